"""Aimed crash points for the crash test: the process kills itself where an order is in flight.

`TRADEBOT_KILL_AT=<point>` makes the process SIGKILL itself the first time it reaches that
point of an order's life; unset (always, outside the crash test), a check costs one
comparison. The points:

- `journaled`: the intent is on disk, the order not sent yet;
- `sent`: the exchange has answered the order, the answer not applied yet;
- `filled`: a fill is applied in memory, not journaled yet;

and for the order lists that rest on the exchange (`exits.on_exchange`):

- `list_journaled`: the list is on disk, not sent yet;
- `list_sent`: the exchange has answered the list, the answer not applied yet;
- `list_cancel`: a cancel of the list (an exit of the bot's, a replace) is about to go;
- `leg_adopted`: an executed leg is journaled as the position's exit, not followed yet.
"""

from __future__ import annotations

import os
import signal

POINTS = ("journaled", "sent", "filled")
LIST_POINTS = ("list_journaled", "list_sent", "list_cancel", "leg_adopted")
ENV = "TRADEBOT_KILL_AT"

_AT = os.environ.get(ENV) or None


def reached(point: str) -> None:
    """Kill this process now if the crash test aimed at `point`."""
    if _AT is not None and point == _AT:
        os.kill(os.getpid(), signal.SIGKILL)
