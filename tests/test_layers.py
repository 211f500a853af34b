"""The layering of DESIGN.md section 1, checked on every import statement in the package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tradebot_tui"

THIRD_PARTY = {
    "trio",
    "textual",
    "rich",
    "ccxt",
    "wsproto",
    "platformdirs",
    "tomli_w",
    "outcome",
    "pyarrow",
    "lz4",
    "apprise",
    "prometheus_client",
    "optuna",
    "ray",
}
# What each layer may import, beyond the standard library.
ALLOWED: dict[str, set[str]] = {
    "core": {"tradebot_tui.core"},
    "config": {"tradebot_tui.core", "tradebot_tui.config", "platformdirs", "tomli_w"},
    "exchange": {
        "tradebot_tui.core",
        "tradebot_tui.config",
        "tradebot_tui.exchange",
        "trio",
        "ccxt",
        "wsproto",
        "pyarrow",
        "lz4",
    },
    "engine": {
        "tradebot_tui.core",
        "tradebot_tui.config",
        "tradebot_tui.exchange",
        "tradebot_tui.engine",
        "trio",
        "outcome",
        # Away from the terminal (DESIGN.md section 8): notifications and metrics.
        "apprise",
        "prometheus_client",
        # Parameter search at scale (DESIGN.md section 9).
        "optuna",
        "ray",
    },
    "ui": {
        "tradebot_tui.core",
        "tradebot_tui.config",
        "tradebot_tui.engine",
        "tradebot_tui.ui",
        "tradebot_tui.assets",
        "textual",
        "rich",
        "outcome",
    },
}
# The core does no I/O and reads no clock: these standard modules are off limits there.
CORE_FORBIDDEN_STDLIB = {
    "os",
    "io",
    "time",
    "socket",
    "sqlite3",
    "subprocess",
    "threading",
    "asyncio",
    "pathlib",
    "logging",
    "tempfile",
    "shutil",
    "urllib",
    "http",
    "datetime",
}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def allowed(name: str, layer: str) -> bool:
    top = name.split(".")[0]
    if name == "tradebot_tui":  # the package root: only __version__, imports nothing
        return True
    if top == "tradebot_tui":
        return any(name == a or name.startswith(a + ".") for a in ALLOWED[layer])
    if top in THIRD_PARTY:
        return top in ALLOWED[layer]
    if layer == "core" and top in CORE_FORBIDDEN_STDLIB:
        return False
    return top in sys.stdlib_module_names or top == "__future__"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    bad = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in imports_of(path)
        if not allowed(name, layer)
    ]
    assert bad == []


def test_the_default_path_never_imports_ccxt() -> None:
    code = (
        "import sys, tradebot_tui.cli, tradebot_tui.ui.app, tradebot_tui.engine.host, "
        "tradebot_tui.exchange.simulator, tradebot_tui.exchange.paper; "
        "print('ccxt' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


ENGINE = PACKAGE / "engine"


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_no_engine_module_is_over_400_lines(path: Path) -> None:
    # One module per job (DESIGN.md section 1): a module that outgrows this holds two.
    assert len(path.read_text().splitlines()) <= 400


def test_capabilities_are_declared_not_probed() -> None:
    """Optional capabilities are Protocols checked with isinstance, never hasattr."""
    probes = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for layer in ("engine", "exchange")
        for path in sorted((PACKAGE / layer).glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("hasattr", "getattr")
        and path.name != "logs.py"  # a LogRecord's `extra` fields, as logging documents
        and not (path.name == "client.py" and node.func.id == "getattr")  # ccxt by name
        and not (path.name == "ccxt_markets.py" and node.func.id == "getattr")
    ]
    assert probes == []


def test_above_the_exchange_no_ccxt_dict_is_indexed() -> None:
    """The exchange's answers are typed at the edge (exchange.reports): the engine reads
    fields, never a ccxt key such as "clientOrderId" or "filled"."""
    ccxt_keys = {
        "clientOrderId",
        "filled",
        "amount",
        "status",
        "symbol",
        "side",
        "price",
        "average",
        "cost",
        "fee",
        "fees",
        "free",
        "used",
        "timestamp",
        "id",
    }
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in sorted(ENGINE.glob("*.py"))
        # The health report is a JSON document of ours whose "status" is /health's own key;
        # telegram.py reads the Bot API's JSON ("id" of a chat), not an exchange's.
        if path.name not in ("health.py", "reporting.py", "telegram.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value in ccxt_keys
        )
        or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in ccxt_keys
        )
    ]
    assert found == []
