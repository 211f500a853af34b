"""`tune`: an Optuna study over exact replays (docs/architecture.md, "Reference semantics").

The parent process owns the study (SQLite in the data dir) and asks Optuna for trials in
batches of a fixed size; the batch is evaluated in parallel (local worker processes, or Ray
tasks on a cluster), and told back in trial order. A seeded study thus makes the same
trials whatever runs them and however many workers there are.

Each trial replays the in-sample part and the out-of-sample part of the data (a split by
time) with `TrialData.replay`, which trades exactly as `replay`; the objective is scored
in-sample, the out-of-sample figures are kept beside it so overfitting shows.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradebot_tui.config.instance_lock import InstanceLock
from tradebot_tui.tune.space import Knob, TuneError
from tradebot_tui.tune.workers import Collect, Outcome, Runner, Setup

if TYPE_CHECKING:
    import optuna

STUDY_DB = "tune.db"
IN_FLIGHT = 2  # batches


# -- the study ---------------------------------------------------------------------------------


class SQLiteJournal:
    """Optuna's journal (the log its JournalStorage replays into memory), kept in a SQLite
    table: the study lives in one SQLite file in the data dir.

    Optuna's RDBStorage (SQLAlchemy) spent 40-65 ms of the parent's time per trial here,
    more than a trial takes; the journal costs a few ms (one INSERT per operation, WAL).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # Durable across a crash of this process; a power cut may lose the last trials.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS optuna_journal (n INTEGER PRIMARY KEY, entry TEXT NOT NULL)"
        )

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT entry FROM optuna_journal WHERE n > ? ORDER BY n", (log_number_from,)
        )
        for (entry,) in rows.fetchall():
            yield json.loads(entry)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT INTO optuna_journal (entry) VALUES (?)", [(json.dumps(x),) for x in logs]
            )


def open_storage(data_dir: Path) -> optuna.storages.BaseStorage:
    """The studies of this data dir, in `tune.db`."""
    import optuna
    from optuna.storages.journal import BaseJournalBackend, JournalStorage

    from tradebot_tui.config.files import private_dir

    private_dir(data_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    BaseJournalBackend.register(SQLiteJournal)
    try:
        backend = SQLiteJournal(data_dir / STUDY_DB)
    except sqlite3.DatabaseError as exc:
        raise TuneError(f"{data_dir / STUDY_DB}: not a study database ({exc})") from None
    return JournalStorage(backend)  # type: ignore[arg-type]


@contextmanager
def study_lock(data_dir: Path, name: str) -> Iterator[None]:
    """One process per study: a second tune of a running study is refused."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    lock = InstanceLock(
        data_dir,
        f"tune-{safe}.lock",
        lambda pid: (
            f"study {name!r} is being run by another tune (pid {pid}); wait for it "
            "or stop it (Ctrl+C leaves it resumable)"
        ),
    )
    with lock:
        yield


def distributions(knobs: Sequence[Knob]) -> dict[str, Any]:
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for k in knobs:
        if k.integer:
            out[k.key] = d.IntDistribution(int(k.low), int(k.high), log=k.log)
        else:
            # Continuous: TPE on a stepped range costs four times as much a trial (its
            # discrete densities), more than a trial itself. Values are kept to 6 decimals.
            out[k.key] = d.FloatDistribution(k.low, k.high, log=k.log)
    return out


def check_name_free(storage: Any, name: str) -> None:
    """Refuse a study name that is taken, saying how many trials it holds."""
    import optuna

    if name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        study = optuna.load_study(study_name=name, storage=storage)
        raise TuneError(
            f"study {name!r} already exists ({len(study.trials)} trials, in "
            f"{STUDY_DB} in the data dir); add --resume to go on with it, or "
            "give --study a new name"
        )


def create_study(storage: Any, name: str, setup: Setup) -> optuna.Study:
    """A new study under a name `check_name_free` let through (the study's lock held)."""
    import optuna

    study = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", sampler=sampler(setup)
    )
    study.set_user_attr("setup", setup.to_json())
    return study


def sampler(setup: Setup) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(seed=setup.seed)


def load_study(storage: Any, name: str) -> tuple[optuna.Study, Setup]:
    """An existing study and its setup; trials left running by a process that died are
    marked failed (this process holds the study's lock, nothing else runs them)."""
    import optuna

    study, setup = load_study_readonly(storage, name)
    study.sampler = sampler(setup)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    return study, setup


@dataclass(frozen=True, slots=True)
class Row:
    """One finished trial as the results table shows it."""

    number: int
    params: dict[str, Any]
    inside: dict[str, float]
    outside: dict[str, float]
    value: float | None  # None: pruned (too few trades)


@dataclass(slots=True)
class Progress:
    """What the run did so far, for the progress line and the TUI."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    best: tuple[int, float] | None = None  # trial number, in-sample value

    @property
    def per_minute(self) -> float:
        spent = time.monotonic() - self.started
        return self.done / spent * 60 if spent > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.per_minute
        return (self.total - self.done) / rate * 60 if rate > 0 else None


def run_trials(
    study: optuna.Study,
    setup: Setup,
    runner: Runner,
    trials: int,
    on_batch: Callable[[Progress, list[Row]], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Progress:
    """Ask, evaluate and tell `trials` trials in batches of `setup.batch`.

    Trials with fewer in-sample trades than `min_trades` are told as pruned (their figures
    are kept). `stop()` true: no new batch is asked, those in flight are finished. On any
    exception (Ctrl+C included) the batches in flight are told as failed, so the study
    stays consistent and resumable.
    """
    import optuna

    dists = distributions(setup.knobs)
    progress = Progress(trials)
    best = study.best_trial if _has_complete(study) else None
    if best is not None:
        progress.best = (best.number, float(best.value or 0.0))
    in_flight: deque[tuple[list[optuna.Trial], Collect]] = deque()
    asked_count = 0
    with _ctrl_c_between_writes() as ctrl_c:
        try:
            while in_flight or (asked_count < trials and not stop()):
                # Two batches in flight: the workers run one while this process tells the
                # other and asks the next. The order of asks and tells is fixed, so the
                # trials do not depend on who runs them or how fast.
                while len(in_flight) < IN_FLIGHT and asked_count < trials and not stop():
                    ctrl_c.check()
                    size = min(setup.batch, trials - asked_count)
                    asked = [study.ask(dists) for _ in range(size)]
                    asked_count += size
                    in_flight.append((asked, list))  # failed, should the submit be cut short
                    with ctrl_c.at_once():
                        collect = runner.submit([(t.number, dict(t.params)) for t in asked])
                    in_flight[-1] = (asked, collect)
                asked, collect = in_flight[0]
                with ctrl_c.at_once():
                    outcomes = collect()
                in_flight.popleft()
                _tell(study, setup, asked, outcomes, progress, on_batch)
        except BaseException:
            for asked, _ in in_flight:
                for t in asked:
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
            raise
    return progress


class _CtrlC:
    """Ctrl+C while the study is written is held until the writes are done (a trial asked
    and not told would stay "running"); while trials run, it interrupts at once."""

    def __init__(self) -> None:
        self.held = False
        self.waiting = False

    def handler(self, _signum: int, _frame: object) -> None:
        if self.waiting:
            raise KeyboardInterrupt
        self.held = True

    def check(self) -> None:
        if self.held:
            raise KeyboardInterrupt

    @contextmanager
    def at_once(self) -> Iterator[None]:
        self.check()
        self.waiting = True
        try:
            yield
        finally:
            self.waiting = False


@contextmanager
def _ctrl_c_between_writes() -> Iterator[_CtrlC]:
    ctrl_c = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        ctrl_c.waiting = True  # no signal handler here (the TUI's thread): nothing to hold
        yield ctrl_c
        return
    previous = signal.signal(signal.SIGINT, ctrl_c.handler)
    try:
        yield ctrl_c
    finally:
        signal.signal(signal.SIGINT, previous)


def _tell(
    study: optuna.Study,
    setup: Setup,
    asked: list[optuna.Trial],
    outcomes: list[Outcome],
    progress: Progress,
    on_batch: Callable[[Progress, list[Row]], None] | None,
) -> None:
    """Store a batch's results in trial order; report it."""
    import optuna

    batch = []
    for t, outcome in zip(asked, outcomes, strict=True):
        scores = outcome.attr()
        t.set_user_attr("scores", scores)
        value: float | None = None
        if not setup.feasible(outcome.inside):
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            value = outcome.inside.value(setup.objective)
            study.tell(t, value)
            if progress.best is None or value > progress.best[1]:
                progress.best = (t.number, value)
        batch.append(Row(t.number, dict(t.params), scores["in"], scores["out"], value))
    progress.done += len(asked)
    if on_batch is not None:
        on_batch(progress, batch)


def _has_complete(study: optuna.Study) -> bool:
    import optuna

    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def study_names(storage: Any) -> list[str]:
    """Every study's name in the storage, sorted."""
    import optuna

    return sorted(s.study_name for s in optuna.get_all_study_summaries(storage))


def load_study_readonly(storage: Any, name: str) -> tuple[optuna.Study, Setup]:
    """A study and its setup, for reading (`tune apply`): nothing is changed."""
    import optuna

    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if name not in names:
        known = ", ".join(sorted(names)) or "none yet"
        raise TuneError(f"no study {name!r} (studies: {known}); choose one with --study")
    study = optuna.load_study(study_name=name, storage=storage)
    text = study.user_attrs.get("setup")
    if not isinstance(text, str):
        raise TuneError(f"study {name!r} was not made by tradebot-tui tune (no setup stored)")
    return study, Setup.from_json(text)


def trial_params(study: optuna.Study, number: int) -> dict[str, Any]:
    """A finished trial's settings."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    if not 0 <= number < len(trials):
        raise TuneError(
            f"trial #{number}: study {study.study_name!r} has trials #0 to #{len(trials) - 1}"
        )
    trial = trials[number]
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    if trial.state not in finished:
        raise TuneError(f"trial #{number} did not finish ({trial.state.name.lower()})")
    return dict(trial.params)
