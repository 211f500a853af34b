"""Every command the README and docs/ show is run here, as a reader would run it.

Each page is one session: its `sh` blocks run in order, in one folder, with a home of
their own, so that a later command sees what an earlier one made (the downloaded file,
the study, the config file). A `toml` block for the config is written into the session's
config file where it stands; a secrets block is checked by the secrets reader. Nothing
reaches beyond 127.0.0.1: Binance Vision is a loopback server holding a synthetic month
in Binance's archive format, with its checksum file. The app and the replay and tune apps
run in a pseudo-terminal and are quit with `q`; `--headless` and the fake exchange run
until they say they are up, then get SIGTERM. Benchmarks take minutes and freqtrade: each
is run with `--help` and every option a page gives it must be one it has.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from tests.terminal.ptyterm import PtyApp

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
VISION = "https://data.binance.vision"
MONTH = "BTCUSDT-1m-2022-11"
START_MS = 1_667_260_800_000  # 2022-11-01 00:00 UTC
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
SETTINGS_TABLES = {
    "strategy", "risk", "exits", "budget", "market", "exchange", "notify", "telegram",
    "monitor", "ui",
}  # fmt: skip


def blocks(page: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block of a page, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer((ROOT / page).read_text())]


def commands(page: str) -> list[str]:
    return [
        line.strip()
        for lang, text in blocks(page)
        if lang == "sh"
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_every_page_is_checked_and_the_readme_links_each() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        if page != "docs/mutation-survivors.md":
            assert f"]({page})" in readme, f"README.md does not link {page}"
    assert len(readme.splitlines()) < 150, "the README stays short: the rest goes to docs/"


# -- the month in Binance Vision's format ------------------------------------------------------


def kline_month(symbol: str = "BTCUSDT", scale: float = 1.0) -> bytes:
    """A zip as Binance Vision serves it: one headerless 12-column CSV of 1m klines.

    Synthetic (tests never read ../shared): a slow wave with a sharp 4 % dip and rebound
    every three hours, so that the strategy trades all month.
    """
    rows = []
    price = 20_000.0
    for m in range(30 * 24 * 60):
        phase = m % 180
        dip = 1 - 0.04 * math.sin(math.pi * (phase - 120) / 40) if 120 <= phase < 160 else 1
        close = price * scale * dip * (1 + 0.01 * math.sin(m / 700))
        high, low = close * 1.0005, close * 0.9995
        t = START_MS + m * 60_000
        rows.append(
            f"{t},{close:.2f},{high:.2f},{low:.2f},{close:.2f},1.0,{t + 59_999},{close:.2f},"
            "10,0.5,0.5,0"
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{symbol}-1m-2022-11.csv", "\n".join(rows) + "\n")
    return buf.getvalue()


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Binance Vision on loopback: the month of two pairs and their `.CHECKSUM`s, at
    Binance's paths (every other archive is a 404)."""
    root = tmp_path_factory.mktemp("vision")
    for symbol, scale in (("BTCUSDT", 1.0), ("ETHUSDT", 0.06)):
        folder = root / f"data/spot/monthly/klines/{symbol}/1m"
        folder.mkdir(parents=True)
        data = kline_month(symbol, scale)
        name = f"{symbol}-1m-2022-11.zip"
        (folder / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        (folder / f"{name}.CHECKSUM").write_text(f"{digest}  {name}\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- one session per page ----------------------------------------------------------------------


class Session:
    """A reader at a shell: one folder, one home, the page's commands in order."""

    def __init__(self, cwd: Path, home: Path, vision: str) -> None:
        self.cwd, self.vision = cwd, vision
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TRADEBOT_", "TEXTUAL", "COLUMNS", "LINES"))
        }
        for var, sub in (
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
        ):
            env[var] = str(home / sub)
        env.update(HOME=str(home), TERM="xterm-256color", COLORTERM="truecolor")
        env["TRADEBOT_VISION_URL"] = vision  # `download` fetches from the loopback archive
        self.env = env
        self.log: list[str] = []

    def locate(self, what: str) -> Path:
        out = self.run_ok([str(BIN / "tradebot-tui"), "locate"])
        line = next(x for x in out.splitlines() if x.lower().startswith(what))
        return Path(line.split(None, 1)[1].split("  (")[0].strip())

    def run_ok(self, argv: list[str], *, expect: int = 0, timeout: float = 300) -> str:
        done = subprocess.run(
            argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        out = done.stdout + done.stderr
        assert done.returncode == expect, f"{shlex.join(argv)} exited {done.returncode}:\n{out}"
        return out

    # -- the kinds of command --------------------------------------------------------------

    def shell(self, line: str) -> None:
        for part in line.split(" && "):
            self.one(shlex.split(part, comments=True))

    def one(self, argv: list[str]) -> None:
        self.log.append(shlex.join(argv))
        head = argv[0]
        if head == "curl":
            argv = [a.replace(VISION, self.vision) for a in argv]
            self.run_ok(argv, timeout=60)
        elif head == "sha256sum":
            assert "OK" in self.run_ok(argv, timeout=60)
        elif head == ".venv/bin/tradebot-tui":
            self.tradebot(argv[1:])
        elif head == ".venv/bin/python" and argv[1:3] == ["-m", "tests.fake_exchange"]:
            self.until_up([sys.executable, *argv[1:]], "REST http://127.0.0.1:", cwd=ROOT)
        elif head == ".venv/bin/python" and argv[1].startswith("benchmarks/"):
            self.benchmark(argv[1], argv[2:])
        elif head == ".venv/bin/pip" and argv[1] == "install":
            groups = [argv[i + 1] for i, a in enumerate(argv) if a == "--group"]
            pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
            for group in groups:
                assert group in pyproject["dependency-groups"], group
        else:
            raise AssertionError(f"a page shows a command no test runs: {shlex.join(argv)}")

    def tradebot(self, args: list[str]) -> None:
        script = str(BIN / "tradebot-tui")
        commands = {"locate", "status", "trades", "config", "download", "replay", "tune"}
        if "--headless" in args:
            self.until_up([script, *args], "engine started")
        elif "--tui" in args or not commands & set(args):
            self.in_terminal(args)
        elif args[0] == "status":  # no bot runs in the session: said, exit 2
            assert "not running" in self.run_ok([script, *args], expect=2)
        else:
            self.run_ok([script, *args])

    def in_terminal(self, args: list[str]) -> None:
        app = PtyApp(args, self.env, command=[str(BIN / "tradebot-tui")], cwd=self.cwd)
        try:
            if "tune" in args:
                app.wait_for(re.compile(rb"done"), 240)
            elif "replay" in args:
                app.wait_for(re.compile(rb"REPLAY"), 60)
                app.wait_for(re.compile(rb"BTC/USDT\s+\d"), 60)
            else:
                app.wait_for_prices(60)
            app.send(b"q")
            assert app.wait_exit(30) == 0, app.text()[-2000:]
            assert app.terminal_problems() == []
        finally:
            app.close()

    def until_up(self, argv: list[str], marker: str, *, cwd: Path | None = None) -> None:
        """A command that runs until stopped: it must say `marker`, then stop on SIGTERM."""
        proc = subprocess.Popen(
            argv,
            cwd=cwd or self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen: list[str] = []
        try:
            assert proc.stdout is not None
            timer = threading.Timer(60, proc.kill)  # bounded: a silent command is killed
            timer.start()
            for line in proc.stdout:
                seen.append(line)
                if marker in line:
                    break
            timer.cancel()
            assert any(marker in line for line in seen), "".join(seen)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        if "tests.fake_exchange" not in argv:
            assert proc.returncode == 0, "".join(seen)

    def benchmark(self, script: str, options: list[str]) -> None:
        out = self.run_ok([sys.executable, str(ROOT / script), "--help"], timeout=60)
        for option in options:
            if option.startswith("--"):
                assert option in out, f"{script} has no {option}"

    # -- blocks that are not commands -------------------------------------------------------

    def toml(self, text: str) -> None:
        data = tomllib.loads(text)
        assert set(data) <= SETTINGS_TABLES, set(data) - SETTINGS_TABLES
        if text.lstrip().startswith("# the secrets file"):
            from tradebot_tui.config.credentials import load_notify_urls, load_telegram

            path = self.cwd / "secrets.toml"
            path.write_text(text)
            path.chmod(0o600)
            assert load_notify_urls(path, {}) or load_telegram(path, {}), text
            return
        path = self.locate("config")
        merged = tomllib.loads(path.read_text()) if path.exists() else {}
        for table, values in data.items():
            merged.setdefault(table, {}).update(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tomli_w.dumps(merged))
        self.run_ok([str(BIN / "tradebot-tui"), "config", "check"])


@pytest.mark.pty
@pytest.mark.parametrize("page", PAGES)
def test_every_command_of_the_page_runs(page: str, tmp_path: Path, vision: str) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    session = Session(cwd, tmp_path / "home", vision)
    if page != "README.md":  # the pages after the README start where it leaves off
        session.shell(f"curl -fsSLO {VISION}/data/spot/monthly/klines/BTCUSDT/1m/{MONTH}.zip")
    ran = 0
    for lang, text in blocks(page):
        if lang == "sh":
            for line in text.splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("python3 -m venv"):
                    # The two setup commands: what they install is checked against CI by
                    # test_the_start_commands_are_what_ci_runs; the app they start runs.
                    line = " && ".join(
                        p for p in line.split(" && ") if p.startswith(".venv/bin/tradebot-tui")
                    )
                    if not line:
                        continue
                session.shell(line)
                ran += 1
        elif lang == "toml":
            session.toml(text)
    assert ran == len(commands(page)) - (page == "README.md")  # the test command is CI's


def test_the_start_commands_are_what_ci_runs() -> None:
    """README's two commands: CI runs the test one (in its own venv); the app one installs
    the same way without the test extras, and its last step runs in the README session."""
    start = [c for c in commands("README.md") if c.startswith("python3 -m venv")]
    assert len(start) == 2
    app, tests = start
    ci = [
        line.replace(".venv-ci", ".venv").replace("--clear ", "")
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line.startswith(("python3", ".venv-ci", "exec "))
    ]
    assert tests.split(" && ") == [line.removeprefix("exec ") for line in ci]
    assert app.split(" && ")[:2] == tests.split(" && ")[:2]
    assert app.split(" && ")[2] == ".venv/bin/pip install -q -e ."
    assert app.split(" && ")[3] == ".venv/bin/tradebot-tui"
