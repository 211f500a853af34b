"""`tune`'s trials: a study's setup, one trial's evaluation, and what runs trials (this
process, local worker processes or Ray tasks). Imports no Optuna: workers do not need it."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import to_dict
from tradebot_tui.tune.space import (
    Knob,
    Score,
    Split,
    TuneError,
    base_from_dict,
    score,
    trial_settings,
)
from tradebot_tui.tune.trials import TrialData


@dataclass(frozen=True, slots=True)
class Setup:
    """What a study is; stored with it, so that `--resume` goes on with the same."""

    paths: tuple[str, ...]
    knobs: tuple[Knob, ...]
    objective: str
    min_trades: int
    oos_pct: float
    seed: int
    batch: int
    split: Split
    base: dict[str, dict[str, Any]]
    config: str = ""  # the config file the study ran with ("" for studies before it)
    # Trials whose in-sample drawdown is larger (in %) are pruned; None: no limit.
    max_drawdown_pct: float | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "paths": list(self.paths),
                "knobs": [[k.key, k.low, k.high, k.integer, k.log] for k in self.knobs],
                "objective": self.objective,
                "min_trades": self.min_trades,
                "oos_pct": self.oos_pct,
                "seed": self.seed,
                "batch": self.batch,
                "split": [self.split.start, self.split.cut, self.split.end],
                "base": self.base,
                "config": self.config,
                "max_drawdown_pct": self.max_drawdown_pct,
            },
            default=str,
        )

    @classmethod
    def from_json(cls, text: str) -> Setup:
        d = json.loads(text)
        return cls(
            paths=tuple(d["paths"]),
            knobs=tuple(Knob(k, lo, hi, bool(i), bool(lg)) for k, lo, hi, i, lg in d["knobs"]),
            objective=d["objective"],
            min_trades=int(d["min_trades"]),
            oos_pct=float(d["oos_pct"]),
            seed=int(d["seed"]),
            batch=int(d["batch"]),
            split=Split(*d["split"]),
            base=d["base"],
            config=str(d.get("config", "")),
            max_drawdown_pct=d.get("max_drawdown_pct"),
        )

    def feasible(self, inside: Score) -> bool:
        """Whether a trial's in-sample figures meet the study's constraints (else it is
        pruned): enough trades, and no larger drawdown than allowed."""
        if inside.trades < self.min_trades:
            return False
        limit = self.max_drawdown_pct
        return limit is None or inside.max_drawdown_pct <= limit

    def constraints(self) -> str:
        """The constraints in words."""
        text = f"{self.min_trades} in-sample trades"
        if self.max_drawdown_pct is not None:
            text += f" and an in-sample drawdown of at most {self.max_drawdown_pct:g} %"
        return text

    @property
    def settings(self) -> Settings:
        return base_from_dict(self.base)


def base_dict(settings: Settings) -> dict[str, dict[str, Any]]:
    """Settings as JSON-safe data (Decimals as text, which the validation reads back)."""
    out: dict[str, dict[str, Any]] = json.loads(json.dumps(to_dict(settings), default=str))
    return out


# -- one trial ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """A trial's figures: in-sample (what is optimised) and out-of-sample."""

    number: int
    inside: Score
    outside: Score

    def attr(self) -> dict[str, dict[str, float]]:
        return {"in": self.inside.as_dict(), "out": self.outside.as_dict()}


def evaluate(data: TrialData, setup: Setup, number: int, params: dict[str, Any]) -> Outcome:
    """Replay both parts of the split with a trial's settings and score them."""
    settings = trial_settings(setup.base, params)  # validated once, not twice
    strategy = settings.strategy_params()
    quote, initial = settings.budget.quote, settings.budget.initial
    split = setup.split
    # A study of part of the data (`tune --timerange`) starts and ends its split inside
    # it: those bounds are then the replays' too (the hour before warms the anchors).
    first, last = data.span or (split.start, split.end)
    start = split.start if split.start > first else None
    end = split.end if split.end < last else None
    inside = data.replay(strategy, quote=quote, initial=initial, from_ms=start, to_ms=split.cut - 1)
    outside = data.replay(strategy, quote=quote, initial=initial, from_ms=split.cut, to_ms=end)
    return Outcome(
        number,
        score(inside.trades, initial, split.start, split.cut - 1),
        score(outside.trades, initial, split.cut, split.end),
    )


def load_data(paths: Sequence[str]) -> TrialData:
    return TrialData.load([Path(p) for p in paths])


# Per worker process: the data set, loaded once, and its setup.
_WORKER: dict[str, Any] = {}


def _worker_init(paths: Sequence[str], setup_json: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl+C
    if "data" not in _WORKER:  # forked workers have the parent's copy already
        _WORKER["data"] = load_data(paths)
    _WORKER["setup"] = Setup.from_json(setup_json)


def _worker_trial(number: int, params: dict[str, Any]) -> Outcome:
    return evaluate(_WORKER["data"], _WORKER["setup"], number, params)


Batch = list[tuple[int, dict[str, Any]]]  # (trial number, settings) of each trial
Collect = Callable[[], list[Outcome]]


class Runner:
    """Evaluates batches of trials: `submit` starts one and returns what waits for its
    outcomes (in the batch's order); `close` releases the workers."""

    workers = 1

    def submit(self, batch: Batch) -> Collect:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class InProcess(Runner):
    """One worker: this process."""

    def __init__(self, setup: Setup, data: TrialData) -> None:
        self.setup = setup
        self.data = data

    def submit(self, batch: Batch) -> Collect:
        return lambda: [evaluate(self.data, self.setup, n, p) for n, p in batch]


class LocalPool(Runner):
    """Worker processes on this machine, each loading the data once."""

    def __init__(self, setup: Setup, workers: int, data: TrialData) -> None:
        self.workers = workers
        context = None
        if "fork" in multiprocessing.get_all_start_methods():
            # Forked workers share the parent's loaded data (copy on write): loaded once
            # for all of them, anchors of the base window included.
            if data.fast:
                data.anchors(setup.settings.strategy.window_s * 1000)
            _WORKER["data"] = data
            context = multiprocessing.get_context("fork")
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_worker_init,
            initargs=(setup.paths, setup.to_json()),
        )
        # Start the workers now, from the main thread: forking later, from the TUI's
        # search thread, would copy a process whose other threads hold locks.
        self.pool.submit(int).result()

    def submit(self, batch: Batch) -> Collect:
        futures: list[Future[Outcome]] = [self.pool.submit(_worker_trial, n, p) for n, p in batch]
        return lambda: [f.result() for f in futures]

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class RayCluster(Runner):
    """Ray tasks on an existing cluster; the data goes into the object store once and
    each Ray worker process builds its trial data from it once."""

    def __init__(self, setup: Setup, address: str, data: TrialData) -> None:
        probe(address)
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            ray.init(
                address=address,
                logging_level=logging.ERROR,
                log_to_driver=False,
                configure_logging=False,
            )
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TuneError(f"--ray {address}: no Ray cluster answers there ({first})") from None
        self.ray = ray
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self.workers = int(resources.get("CPU", 1))
        key = setup.to_json()
        self.refs = [ray.put(key), ray.put(data.series)]
        self.task = ray.remote(_ray_trial)

    def submit(self, batch: Batch) -> Collect:
        # The refs inside a list: Ray passes them unresolved, so a worker that already
        # built the data does not fetch it again.
        pending = [self.task.remote(self.refs, n, p) for n, p in batch]
        return lambda: list(self.ray.get(pending))

    def close(self) -> None:
        self.ray.shutdown()


def probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once on an address where nothing listens (Ray itself retries for minutes)."""
    if address == "auto":
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise TuneError(f"--ray {address}: expected HOST:PORT (or ray://HOST:PORT, or auto)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise TuneError(
            f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc})"
        ) from None


def _ray_trial(refs: list[Any], number: int, params: dict[str, Any]) -> Outcome:
    """A trial in a Ray worker process (imported there by name)."""
    import ray

    key = refs[0].hex()
    if _WORKER.get("key") != key:
        setup_json, series = ray.get(refs)
        _WORKER.update(key=key, setup=Setup.from_json(setup_json), data=TrialData(series))
    return evaluate(_WORKER["data"], _WORKER["setup"], number, params)
