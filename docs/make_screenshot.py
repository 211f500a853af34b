"""Regenerate docs/screenshot.svg: the watchlist after fifteen simulated minutes.

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
from tradebot_tui.config.schema import Settings  # noqa: E402

STEPS = 900


def main() -> None:
    total = expected_live_ticks(Settings(), steps=STEPS)
    app = make_app(steps=STEPS)

    async def settled(pilot: Pilot) -> None:
        while not (app.snapshot is not None and app.snapshot.ticks == total):
            await asyncio.sleep(0.02)

    svg = take_svg_screenshot(app, terminal_size=(118, 28), run_before=settled)
    out = ROOT / "docs" / "screenshot.svg"
    out.write_text(svg)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
