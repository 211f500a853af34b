"""`tune --ray`: trials as Ray tasks on a real Ray head started on 127.0.0.1.

Ray resolves a loopback address to the machine's outward IP unless told that clusters are
off (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, honoured on Linux too): with it, the head,
its workers and the driver all talk over 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from tradebot_tui.tune.study import open_storage

from .test_cli_tune import data_dir, tune, write_klines

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

RAY = Path(sys.executable).parent / "ray"
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ray_head(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in LOOPBACK_ONLY.items():
        monkeypatch.setenv(key, value)
    env = {**os.environ, **LOOPBACK_ONLY}
    port = free_port()
    start = [
        str(RAY),
        "start",
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    subprocess.run(start, env=env, check=True, timeout=180, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, timeout=180, capture_output=True)


def test_a_seeded_study_on_ray_makes_the_same_trials_as_the_local_run(
    ray_head: str, tmp_path: Path, isolated_home: Path
) -> None:
    data = [str(p) for p in write_klines(tmp_path / "data")]
    common = ["--trials", "16", "--seed", "7", "--min-trades", "1"]
    assert tune(*data, *common, "--workers", "2", "--study", "local") == 0
    assert tune(*data, *common, "--ray", ray_head, "--study", "ray") == 0
    storage = open_storage(data_dir(isolated_home))
    local = optuna.load_study(study_name="local", storage=storage).get_trials()
    remote = optuna.load_study(study_name="ray", storage=storage).get_trials()
    assert len(local) == len(remote) == 16
    assert [(t.params, t.value, t.state, t.user_attrs) for t in remote] == [
        (t.params, t.value, t.state, t.user_attrs) for t in local
    ]
    best = [t.number for t in sorted(local, key=lambda t: -(t.value or -1e9))[:3]]
    assert best == [t.number for t in sorted(remote, key=lambda t: -(t.value or -1e9))[:3]]
