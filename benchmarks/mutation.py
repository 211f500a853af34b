"""Mutation score of the money modules: do the tests fail when the money rules are wrong?

mutmut (configured in pyproject.toml, [tool.mutmut]) makes small changes to each module
(a `<=` turned `<`, a `+` turned `-`, a constant changed, an argument dropped) and runs
the core tests against each; a change no test notices "survives". This prints, per
module, how many changes the tests killed, and lists every survivor that
docs/mutation-survivors.md does not explain as equivalent (it changes nothing a user
could see). Goal: at least 95 % a module, and no survivor unexplained.

Run:  .venv/bin/python benchmarks/mutation.py          (runs mutmut, then reports)
      .venv/bin/python benchmarks/mutation.py --report (the last run's results only)

It needs mutmut (`pip install -e . --group mutation`) and takes about half an hour on
2 cores. Its working copy is `mutants/` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SURVIVORS_DOC = ROOT / "docs" / "mutation-survivors.md"
GOAL = 0.95
# mutmut's exit codes (mutmut/stats.py): killed, and what counts as killed here.
KILLED = {1, 3, 24, -24, 36, 152, 255, 37}  # killed, a crash, a timeout, a type error
SURVIVED = {0}
NO_TESTS = {5, 33}


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def explained() -> set[str]:
    """Mutant names the survivors document explains (the first column of its tables)."""
    if not SURVIVORS_DOC.exists():
        return set()
    return set(re.findall(r"^\|\s*`([^`]+__mutmut_\d+)`", SURVIVORS_DOC.read_text(), re.M))


def change(name: str) -> str:
    """The mutant's diff, as mutmut shows it (the lines it changes)."""
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    lines = [
        line
        for line in out.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return " / ".join(" ".join(line.split()) for line in lines)


def report() -> int:
    known = explained()
    failing = 0
    print(f"{'module':<36} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8}  score")
    unexplained: list[tuple[str, str]] = []
    for module in modules():
        meta = ROOT / "mutants" / f"{module}.meta"
        if not meta.exists():
            print(f"{module:<36} no results: run without --report first")
            failing += 1
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(
            "killed"
            if c in KILLED
            else "survived"
            if c in SURVIVED
            else "no tests"
            if c in NO_TESTS
            else "other"
            for c in codes.values()
        )
        total = len(codes)
        score = counts["killed"] / total if total else 1.0
        met = score >= GOAL
        failing += not met
        print(
            f"{module:<36} {total:>7} {counts['killed']:>7} {counts['survived']:>8} "
            f"{counts['no tests']:>8}  {score:6.1%}  goal >= {GOAL:.0%} "
            f"{'met' if met else 'MISSED'}"
        )
        for name, code in sorted(codes.items()):
            if code not in KILLED and name not in known:
                unexplained.append((name, change(name)))
    if unexplained:
        print(f"\n{len(unexplained)} survivor(s) not explained in {SURVIVORS_DOC.name}:")
        for name, diff in unexplained:
            print(f"  {name}: {diff}")
    else:
        print(f"\nevery survivor is explained in {SURVIVORS_DOC.relative_to(ROOT)}")
    return 1 if failing or unexplained else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true", help="report the last run only")
    args = parser.parse_args()
    if not args.report:
        # mutmut keeps its verdicts and checks again only the mutants whose code changed:
        # changed tests would not be seen. Every run starts from scratch.
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        started = time.monotonic()
        log = ROOT / "mutants.log"
        with log.open("w") as out:
            run = subprocess.run(
                [sys.executable, "-m", "mutmut", "run"], cwd=ROOT, stdout=out, stderr=out
            )
        took = time.monotonic() - started
        print(f"mutmut run: exit {run.returncode} in {took:.0f} s (log {log.name})")
    return report()


if __name__ == "__main__":
    sys.exit(main())
