"""Finding the shipped stylesheets and themes: installed package first, checkout second.

The wheel force-includes the repository's `screens/` and `themes/` folders as
`tradebot_tui/_assets/{screens,themes}`; an editable install or a plain checkout finds
them at the repository's top level.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
KINDS = ("screens", "themes")


def asset_dir(kind: str) -> Path:
    """The folder holding one kind of asset ("screens" or "themes").

    Raises:
        FileNotFoundError: neither the installed nor the checkout folder exists.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown asset kind {kind!r} (known: {', '.join(KINDS)})")
    for candidate in (_PACKAGE / "_assets" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"tradebot-tui's {kind}/ folder is missing (looked in {_PACKAGE / '_assets'} and "
        f"{_PACKAGE.parent}); reinstall the package"
    )


def stylesheet(screen: str) -> Path:
    """The stylesheet of one screen: `screens/<screen>.tcss`."""
    return asset_dir("screens") / f"{screen}.tcss"
