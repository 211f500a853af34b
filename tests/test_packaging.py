"""The wheel: builds, installs into a fresh venv, runs, and carries every asset.

No network: the wheel is built without isolation (hatchling from the test environment)
and installed without dependencies; the fresh venv borrows the test environment's
site-packages for textual and friends through a plain path in a .pth file, which does
not process that folder's own .pth files, so the checkout stays out of sys.path.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

from tradebot_tui import __version__

ROOT = Path(__file__).resolve().parent.parent

CHECK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import tradebot_tui
    from tradebot_tui.assets import asset_dir
    from tradebot_tui.ui.app import TradebotApp, screen_class
    from tradebot_tui.ui.themes import load_themes

    package = Path(tradebot_tui.__file__).resolve().parent
    assert package.is_relative_to(Path(sys.prefix).resolve()), package
    for kind in ("screens", "themes"):
        assert asset_dir(kind) == package / "_assets" / kind, asset_dir(kind)
    from tradebot_tui.ui.screens.confirm_live import ConfirmLiveScreen
    from tradebot_tui.ui.screens.dialogs import ConfirmDialog, HelpScreen, ThemePicker

    dialogs = [("dialog", d) for d in (ConfirmDialog, HelpScreen, ThemePicker, ConfirmLiveScreen)]
    for mode, screen in [*((m, screen_class(m)) for m in TradebotApp.MODES), *dialogs]:
        css = Path(screen.CSS_PATH)
        assert css.is_file() and css.is_relative_to(package), (mode, css)
        assert screen.__name__ in css.read_text(), (mode, "rules not under the screen type")
    themes, errors = load_themes(None)
    assert not errors, errors
    assert len(themes) >= 3 and any(not t.dark for t in themes), themes
    print("assets ok:", len(TradebotApp.MODES), "screens,", len(themes), "themes")
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("tradebot_tui-*.whl")
    return built


def test_wheel_installs_runs_and_has_every_asset(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    version = subprocess.run(
        [str(env_dir / "bin" / "tradebot-tui"), "--version"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert version.stdout.strip() == f"tradebot-tui {__version__}"
    check = subprocess.run(
        [str(python), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert check.returncode == 0, check.stderr
    assert "assets ok: 7 screens" in check.stdout


def test_every_screen_has_a_stylesheet_in_the_checkout() -> None:
    from tradebot_tui.ui.app import TradebotApp
    from tradebot_tui.ui.screens.confirm_live import ConfirmLiveScreen
    from tradebot_tui.ui.screens.dialogs import ConfirmDialog, HelpScreen, ThemePicker

    names = {p.stem for p in (ROOT / "screens").glob("*.tcss")}
    assert names == set(TradebotApp.MODES) | {"confirm_live", "confirm", "help", "theme_picker"}
    for dialog in (ConfirmLiveScreen, ConfirmDialog, HelpScreen, ThemePicker):
        css = Path(dialog.CSS_PATH)
        assert css.is_file() and dialog.__name__ in css.read_text(), dialog
