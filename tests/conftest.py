"""Fixtures shared by every test: an isolated home, and proof that no trio run leaks."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests (Textual's Pilot tests) in a fresh asyncio loop each."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


ISOLATED_ENV = ("TRADEBOT_CONFIG", "TRADEBOT_API_KEY", "TRADEBOT_API_SECRET")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every platformdirs location at a fresh folder; drop our env variables."""
    home = tmp_path / "home"
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("HOME", str(home))
    for var in ISOLATED_ENV:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(autouse=True)
def trio_is_idle() -> Iterator[None]:
    """After each test, no trio run (guest or not) may be left in this thread.

    An abandoned guest run poisons the thread: every later `trio.run` would fail. Running
    a trivial `trio.run` proves the thread is clean.
    """
    yield
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        pass
    else:  # pragma: no cover - only on a leak
        pytest.fail("a trio run is still active in this thread after the test")
    trio.run(trio.sleep, 0)
