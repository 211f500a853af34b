"""The one base class of every error the user is shown as a sentence, not a traceback."""

from __future__ import annotations


class TradebotError(Exception):
    """Something the user must fix or decide: the message says what is wrong and where.

    The command line prints it as one line and exits with status 2; the app shows it. Bugs
    and engine crashes are never of this type: they keep their traceback.
    """

