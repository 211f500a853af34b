"""The house's layout, checked on every import statement in the package.

docs/architecture.md describes it: one folder per job, each importing only from the
folders below it. Names may change; the direction may not.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
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
    "numpy",
    "ray",
    "plotly",
}
# core <- config <- {data, exchange, journal} <- engine <- away <- wiring <- cli;
# replay beside the engine (no trio), tune on top of replay; the UI reads the engine's
# public names. Each folder: the folders of ours and the libraries it may import.
BELOW_ENGINE = {"core", "config", "data", "exchange", "journal"}
RULES: dict[str, tuple[set[str], set[str]]] = {
    "core": ({"core"}, set()),
    "config": ({"core", "config"}, {"platformdirs", "tomli_w"}),
    "data": ({"core", "config", "data"}, {"pyarrow", "lz4", "numpy"}),
    "exchange": ({"core", "config", "exchange"}, {"trio", "ccxt", "wsproto"}),
    "journal": ({"core", "config", "journal"}, {"trio"}),
    "engine": (BELOW_ENGINE | {"engine"}, {"trio", "outcome"}),
    "away": (BELOW_ENGINE | {"engine", "away"}, {"trio", "apprise", "prometheus_client"}),
    "replay": ({"core", "config", "data", "replay"}, set()),
    # numpy builds the trial data.
    "tune": ({"core", "config", "data", "replay", "tune"}, {"optuna", "numpy", "ray"}),
    "plot": ({"core", "config", "data", "replay", "plot"}, {"plotly", "optuna"}),
    "wiring": (BELOW_ENGINE | {"engine", "away", "replay", "wiring"}, {"trio"}),
    "cli": (
        BELOW_ENGINE | {"engine", "away", "replay", "tune", "plot", "wiring", "ui", "cli", ""},
        {"trio"},
    ),
    "ui": ({"core", "config", "engine", "tune", "ui", "assets"}, {"textual", "rich", "outcome"}),
}
# Packages whose public names (`__all__`) are all the UI may use of them.
PUBLIC_ONLY_FOR_UI = ("engine", "tune")
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


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def folder_of(path: Path) -> str:
    """The top folder of the package a module is in ("" for the package's own root)."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def type_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:` (never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        lines.add(sub.lineno)
    return lines


def imports_of(path: Path, *, runtime_only: bool = False) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of each import; relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    skip = type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = module_name(path).split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            yield module, [alias.name for alias in node.names]


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def allowed(name: str, folder: str) -> bool:
    ours, libraries = RULES[folder]
    top = name.split(".")[0]
    if name == "tradebot_tui":  # the package root: only __version__
        return True
    if top == "tradebot_tui":
        target = name.split(".")[1]
        if target == "assets":
            return "assets" in ours or folder == "ui"
        return target in ours
    if top in THIRD_PARTY:
        return top in libraries
    if folder == "core" and top in CORE_FORBIDDEN_STDLIB:
        return False
    return top in sys.stdlib_module_names or top == "__future__"


def test_every_module_is_in_a_folder_with_rules() -> None:
    folders = {folder_of(p) for p in package_modules()} - {""}
    assert folders <= set(RULES)
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    # launch.py: the console script's entry point, which must run before any folder of
    # the package is imported (it turns the collector off for the launch).
    assert root == ["__init__.py", "__main__.py", "assets.py", "launch.py"]


@pytest.mark.parametrize("folder", sorted(RULES))
def test_a_folder_imports_only_what_it_may(folder: str) -> None:
    bad = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in package_modules()
        if folder_of(path) == folder
        for name, _ in imports_of(path)
        if not allowed(name, folder)
    ]
    assert bad == []


def public_names(package: str) -> set[str]:
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def test_the_ui_uses_only_the_public_names_of_the_engine_and_tune() -> None:
    bad = []
    for path in package_modules():
        if folder_of(path) != "ui":
            continue
        for module, names in imports_of(path):
            for package in PUBLIC_ONLY_FOR_UI:
                prefix = f"tradebot_tui.{package}"
                if module.startswith(prefix + "."):
                    bad.append(f"{path.name}: {module} (a module inside {package}/)")
                elif module == prefix:
                    hidden = set(names) - public_names(package)
                    bad += [f"{path.name}: {package}.{n} is not in __all__" for n in hidden]
    assert bad == []


def test_every_public_name_exists() -> None:
    for package in PUBLIC_ONLY_FOR_UI:
        code = (
            f"import tradebot_tui.{package} as p; "
            "missing = [n for n in p.__all__ if getattr(p, n, None) is None]; print(missing)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]", package


def test_replay_runs_without_trio() -> None:
    """Replay is a plain loop: neither its modules nor what they load import trio."""
    code = (
        "import sys, tradebot_tui.replay.runner, tradebot_tui.replay.feed, "
        "tradebot_tui.tune.trials; print('trio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_import_cycle_between_modules() -> None:
    """Imports run at import time or inside functions both count; `TYPE_CHECKING` ones
    (type-only) do not."""
    modules = {module_name(p): p for p in package_modules()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for module, names in imports_of(path, runtime_only=True):
            if not module.startswith("tradebot_tui"):
                continue
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            if len(targets) < len(names) or not names:
                targets.append(module)
            for target in targets:
                # `import a.b.c` runs a/__init__ and a/b/__init__ too: the package's own
                # __init__ importing its modules is how packages work, not a cycle.
                if target in modules and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    cycles = strongly_connected(graph)
    assert [sorted(c) for c in cycles if len(c) > 1] == []


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    out.append(component)
    return out


def test_no_module_over_500_lines_and_no_class_over_400() -> None:
    """One module per job, one class per concept: a file or class that outgrows this
    holds two."""
    big = []
    for path in package_modules():
        text = path.read_text()
        rel = path.relative_to(PACKAGE.parent)
        if len(text.splitlines()) > 500:
            big.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                size = node.end_lineno - node.lineno + 1
                if size > 400:
                    big.append(f"{rel}: class {node.name} {size} lines")
    assert big == []


CITATION = re.compile(r'(docs/[\w/.-]+\.md)(?:,\s+"([^"]+)")?')


def test_code_cites_the_repositorys_own_documents() -> None:
    """A comment pointing at a document, or a section, that a clone does not hold cannot
    be followed: every `docs/X.md, "Section"` names a file and a heading of it."""
    root = PACKAGE.parent
    bad = []
    cited = 0
    for path in package_modules():
        # A citation may wrap onto the next line of a comment or docstring.
        text = re.sub(r"\n\s*(#\s*)?", " ", path.read_text())
        if "DESIGN.md" in text:
            bad.append(f"{path.relative_to(root)}: cites DESIGN.md, which the repo does not hold")
        for document, section in CITATION.findall(text):
            cited += 1
            if not (root / document).is_file():
                bad.append(f"{path.relative_to(root)}: {document} does not exist")
            elif section and f"## {section}" not in (root / document).read_text():
                bad.append(f"{path.relative_to(root)}: {document} has no section {section!r}")
    assert bad == [] and cited >= 10


def test_the_default_path_never_imports_ccxt() -> None:
    code = (
        "import sys, tradebot_tui.cli, tradebot_tui.ui.app, tradebot_tui.engine.host, "
        "tradebot_tui.exchange.simulator, tradebot_tui.exchange.paper, tradebot_tui.wiring; "
        "print('ccxt' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_first_frame_needs_neither_trio_nor_the_engine() -> None:
    """What `tradebot-tui` imports before its first frame (the command line, the settings,
    the checks, the assembly of a paper run, the app): the engine, trio and outcome come
    after it. Every name the engine exports is still found where it says."""
    code = (
        "import sys, tradebot_tui.cli, tradebot_tui.cli.run, tradebot_tui.ui.app, "
        "tradebot_tui.wiring.bot, tradebot_tui.wiring.checks, tradebot_tui.engine.logs, "
        "tradebot_tui.config.instance_lock; "
        "print(sorted(m for m in ('trio', 'outcome', 'tradebot_tui.engine.engine') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    import tradebot_tui.engine as engine

    assert sorted(engine._HOMES) == sorted(engine.__all__)
    for name, home in engine._HOMES.items():
        assert getattr(engine, name) is vars(importlib.import_module(home))[name]


def modules_in(*folders: str) -> list[Path]:
    return [p for p in package_modules() if folder_of(p) in folders]


def test_capabilities_are_declared_not_probed() -> None:
    """Optional capabilities are Protocols checked with isinstance, never hasattr."""
    probes = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in modules_in("engine", "exchange", "away", "wiring")
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
    """The exchange's answers are typed at the edge (exchange.reports): the engine, the
    journal and the wiring read fields, never a ccxt key such as "clientOrderId"."""
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
        for path in modules_in("engine", "journal", "wiring")
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


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert sorted(sorted(c) for c in strongly_connected(graph) if len(c) > 1) == [["a", "b", "c"]]
