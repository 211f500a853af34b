"""The command line: --version, locate, config init/check/path, and bad configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tradebot_tui import __version__
from tradebot_tui.cli import main
from tradebot_tui.config.credentials import KEY_ENV, SECRET_ENV


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tradebot-tui {__version__}"


def test_locate_lists_every_location(
    capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    assert main(["locate"]) == 0
    out = capsys.readouterr().out
    for name in ("config", "secrets", "themes", "data", "journal", "recordings", "logs"):
        assert any(line.startswith(name) for line in out.splitlines()), name
    assert str(isolated_home) in out
    assert files_under(isolated_home) == []  # locate creates nothing


def test_config_init_check_path(capsys: pytest.CaptureFixture[str], isolated_home: Path) -> None:
    assert main(["config", "path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert main(["config", "init"]) == 0
    assert path.exists()
    assert main(["config", "check"]) == 0
    assert "is valid" in capsys.readouterr().out
    assert main(["config", "init"]) == 2
    assert "exists already" in capsys.readouterr().err


BAD_FILES = {
    "syntax": ("[strategy\n", "TOML syntax error"),
    "unknown key": ("[strategy]\ntrigger = 2\n", "strategy.trigger: unknown key"),
    "wrong type": ('[risk]\nmax_positions = "5"\n', "risk.max_positions: must be an integer"),
    "out of range": (
        "[exits]\nstop_loss_pct = 120\n",
        "exits.stop_loss_pct: must be > 0 and <= 99",
    ),
    "unknown symbol": ('[market]\nsymbols = ["FOO/USDT"]\n', "market.symbols: not simulated"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.parametrize("command", [[], ["--headless"], ["config", "check"]])
def test_bad_config_exits_2_and_writes_nothing(
    case: str,
    command: list[str],
    tmp_path: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text, message = BAD_FILES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["--config", str(path), *command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tradebot-tui: error: {path}: ")
    assert message in err
    assert files_under(isolated_home) == []
    assert path.read_text() == text


def test_missing_explicit_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: file not found" in capsys.readouterr().err


def test_env_config_is_explicit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEBOT_CONFIG", str(tmp_path / "nope.toml"))
    assert main(["config", "check"]) == 2
    assert "nope.toml: file not found" in capsys.readouterr().err


LIVE_CONFIG = '[exchange]\nmode = "live"\nrest_url = "http://127.0.0.1:9"\n'
LIVE_DATA = '[market]\nsource = "ccxt"\nsymbols = ["BTC/USDT"]\n'


@pytest.mark.parametrize(
    ("config", "args", "env", "message"),
    [
        (LIVE_CONFIG + LIVE_DATA, ["--headless"], True, "--live is missing"),
        (LIVE_DATA, ["--headless", "--live"], True, '--live needs exchange.mode = "live"'),
        (LIVE_CONFIG, ["--headless", "--live", "--confirm-live"], True, "needs exchange data"),
        (LIVE_CONFIG + LIVE_DATA, ["--headless", "--live"], True, "--confirm-live"),
        (
            LIVE_CONFIG + LIVE_DATA,
            ["--headless", "--live", "--confirm-live"],
            False,
            "live trading needs API keys",
        ),
    ],
    ids=["no-flag", "no-config", "simulated", "no-confirmation", "no-keys"],
)
def test_live_mode_is_refused_unless_everything_asks_for_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    args: list[str],
    env: bool,
    message: str,
) -> None:
    if env:
        monkeypatch.setenv(KEY_ENV, "k-123")
        monkeypatch.setenv(SECRET_ENV, "s-456")
    path = tmp_path / "live.toml"
    path.write_text(config)
    assert main(["--config", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "s-456" not in err


def test_check_reports_keys_without_showing_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(KEY_ENV, "visible-key-should-not-print-123")
    monkeypatch.setenv(SECRET_ENV, "visible-secret-should-not-print-456")
    assert main(["config", "check"]) == 0
    captured = capsys.readouterr()
    assert "found for binance in environment" in captured.out
    assert "should-not-print" not in captured.out + captured.err


def test_unsafe_secrets_file_noted_in_paper_mode(
    isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = isolated_home / "config" / "tradebot-tui" / "secrets.toml"
    secrets.parent.mkdir(parents=True)
    secrets.write_text(
        '[binance]\napi_key = "k-should-not-print"\napi_secret = "s-should-not-print"\n'
    )
    os.chmod(secrets, 0o644)
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "refusing to use it" in out and "should-not-print" not in out


def test_config_check_says_what_reaches_the_owner_away_never_a_secret(
    capsys: pytest.CaptureFixture[str], isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "away from the terminal: no notifications; no Telegram; no metrics endpoint" in out
    monkeypatch.setenv("TRADEBOT_NOTIFY_URLS", "tgram://123:secretbot/99 ntfy://topic")
    monkeypatch.setenv("TRADEBOT_TELEGRAM_TOKEN", "123:secretbot")
    monkeypatch.setenv("TRADEBOT_TELEGRAM_CHATS", "99")
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "notifications to 2 Apprise URL(s); Telegram for 1 chat(s)" in out
    assert "secretbot" not in out


def test_the_console_script_exits_at_once_yet_flushes_waits_and_runs_exit_handlers(
    isolated_home: Path,
) -> None:
    # `entry` skips the interpreter's teardown (os._exit) after main returns: what a
    # normal exit does first must still happen: non-daemon threads finish, exit handlers
    # run, buffered output reaches the pipe, and the status is main's.
    import subprocess
    import sys

    script = (
        "import atexit, sys, threading, time\n"
        "from tradebot_tui import cli\n"
        "atexit.register(lambda: print('exit handler ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
        "sys.stdout.write('buffered, no newline')\n"
        "sys.argv = ['tradebot-tui', 'config', 'check']\n"
        "cli.entry()\n"
    )
    config = isolated_home / "config" / "tradebot-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[strategy]\ntrigger_pct = "2.0x"\n')
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr  # the bad value: `config check` says so
    assert "trigger_pct" in done.stderr
    assert "buffered, no newline" in done.stdout
    assert "thread done" in done.stdout
    assert "exit handler ran" in done.stdout
    assert done.stdout.index("thread done") < done.stdout.index("exit handler ran")


REFUSED = {
    "unknown venue": (
        '[exchange]\nname = "nosuchvenue"\n[market]\nsource = "ccxt"\nsymbols = ["BTC/USDT"]\n',
        ["exchange.name: ccxt has no exchange 'nosuchvenue'"],
    ),
    "websocket on bitstamp": (
        '[exchange]\nname = "bitstamp"\n[market]\nsource = "websocket"\nsymbols = ["BTC/USDT"]\n',
        [
            "market.source: websocket streams are Binance's, Bybit's, OKX's, Kraken's and "
            "Coinbase's; exchange.name is 'bitstamp' (use ccxt)"
        ],
    ),
    "three mistakes": (
        '[strategy]\ntrigger = 2\n[risk]\nmax_positions = "5"\n[exits]\nstop_loss_pct = 120\n',
        [
            "strategy.trigger: unknown key",
            "risk.max_positions: must be an integer",
            "exits.stop_loss_pct: must be > 0 and <= 99",
        ],
    ),
    "live with its exits on the exchange, without keys": (
        LIVE_CONFIG + LIVE_DATA + "[exits]\non_exchange = true\n",
        ["exchange.mode: live trading needs API keys"],
    ),
    "bybit has no all-market stream": (
        '[exchange]\nname = "bybit"\n[market]\nsource = "websocket"\n'
        'ws_stream = "allMiniTickers"\nsymbols = ["BTC/USDT"]\n',
        ["market.ws_stream: Bybit has no all-market stream: use auto, bookTicker or miniTicker"],
    ),
    "another venue's stream": (
        '[exchange]\nname = "bybit"\nws_url = "wss://stream.binance.com:9443"\n'
        '[market]\nsource = "websocket"\nsymbols = ["BTC/USDT"]\n',
        [
            "exchange.ws_url: wss://stream.binance.com:9443 is Binance's stream, but "
            "exchange.name is 'bybit' (leave exchange.ws_url empty for the venue's own)"
        ],
    ),
    "live on kraken": (
        LIVE_CONFIG.replace("[exchange]\n", '[exchange]\nname = "kraken"\n') + LIVE_DATA,
        [
            "exchange.name: live trading follows Binance's documented order rules (client ids, "
            "order lookup, recovery); exchange.name is 'kraken': paper trading only there",
            "exchange.mode: live trading needs API keys",
        ],
    ),
    "live on bybit's stream": (
        LIVE_CONFIG.replace("[exchange]\n", '[exchange]\nname = "bybit"\n')
        + '[market]\nsource = "websocket"\nsymbols = ["BTC/USDT"]\n',
        [
            "exchange.name: live trading follows Binance's documented order rules (client ids, "
            "order lookup, recovery); exchange.name is 'bybit': paper trading only there",
            "exchange.mode: live trading needs API keys",
        ],
    ),
    "two across fields": (
        '[market]\nsymbols = ["BTC/EUR", "FOO/USDT"]\n[budget]\nstake = 2000\n',
        ["market.symbols[0]: BTC/EUR is not quoted", "budget.stake: stake 2000 is larger"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_config_check_refuses_what_a_start_refuses_in_the_same_words_all_at_once(
    case: str, tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = REFUSED[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    said: dict[str, list[str]] = {}
    for name, argv in {
        "check": ["--config", str(path), "config", "check"],
        "check, --config after": ["config", "check", "--config", str(path)],
        "start": ["--config", str(path), "--headless"],
    }.items():
        assert main(argv) == 2, name
        captured = capsys.readouterr()
        said[name] = captured.err.splitlines()
        assert "is valid" not in captured.out
    assert said["check"] == said["check, --config after"] == said["start"]
    assert len(said["check"]) == len(expected)
    for line, part in zip(said["check"], expected, strict=True):
        assert line.startswith(f"tradebot-tui: error: {path}: ") and part in line
    assert files_under(isolated_home) == []


def test_every_config_action_takes_config_before_or_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.toml"
    for action in ("init", "path", "check"):
        assert main(["config", action, "--config", str(path)]) == 0, action
        assert str(path) in capsys.readouterr().out
    assert main(["--config", str(path), "config", "check"]) == 0
