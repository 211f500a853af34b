"""Regenerate docs/screenshot.svg and docs/charts.svg after fifteen simulated minutes.

Run from the repository root: .venv/bin/python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual._doc import take_svg_screenshot  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from tests.helpers import expected_live_ticks  # noqa: E402
from tests.ui.conftest import make_app  # noqa: E402
from tradebot_tui.config.settings import Settings  # noqa: E402

STEPS = 900


def shot(name: str, keys: tuple[str, ...], size: tuple[int, int]) -> None:
    total = expected_live_ticks(Settings(), steps=STEPS)
    app = make_app(steps=STEPS)

    async def settled(pilot: Pilot) -> None:
        while not (app.snapshot is not None and app.snapshot.ticks == total):
            await asyncio.sleep(0.02)
        await pilot.pause()
        app.clear_notifications()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        while keys and (app.snapshot is None or app.snapshot.focus is None):
            await asyncio.sleep(0.02)
        await pilot.pause(0.6)  # the charts redraw twice a second
        app.clear_notifications()
        await pilot.pause()

    svg = take_svg_screenshot(app, terminal_size=size, run_before=settled)
    out = ROOT / "docs" / name
    out.write_text(svg)
    print(f"wrote {out}")


def main() -> None:
    shot("screenshot.svg", (), (118, 28))
    shot("charts.svg", ("down", "down", "enter"), (118, 30))


if __name__ == "__main__":
    main()
