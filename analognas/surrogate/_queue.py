"""A collection design as a work queue on an Optuna storage, shared by many machines.

`analognas collect --storage URL` (an Optuna RDB URL such as ``postgresql://...``, or a
journal file path) puts the design's points into one Optuna study (``--queue NAME``,
default ``analognas-collect``), whose ``analognas_plan`` attribute says which design it
holds (space, dataset, fidelity, recipe, drift settings, seed, design seed and bins, the
keys): a worker started with other flags is refused with one line instead of quietly
working alone, and a study with trials that are not this design's points is never claimed. One WAITING
trial per point, carrying the point's record key. A worker claims a point with
``study.ask()`` (Optuna pops each WAITING trial for exactly one caller), measures it while
a heartbeat thread stamps the trial every ``heartbeat`` seconds, and finishes it with the
record as a user attribute. Every worker also appends the record to its own record store
and, at start and end, copies every finished record it does not have yet, so each
machine's store ends up with the whole collection, each record once.

A worker killed at any instant (SIGKILL included) loses only the point it was measuring:
its trial stops getting heartbeats, and once the stamp is older than ``grace`` seconds any
other worker marks it failed and re-queues the point, under the study's lock (the same
budget gate as the search: a PostgreSQL advisory lock, or ``flock`` beside a file). The
heartbeat is our own trial attribute rather than Optuna's RDB heartbeat, so the journal
file works the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analognas.surrogate._errors import SurrogateError

KEY_ATTR = "analognas_key"
RECORD_ATTR = "analognas_record"
STATUS_ATTR = "analognas_status"  # "measured" | "failed" | "spare"
BEAT_ATTR = "analognas_heartbeat"
PLAN_ATTR = "analognas_plan"  # study attribute: the identity of the design the queue holds
DEFAULT_QUEUE = "analognas-collect"
WORKER_ATTR = "analognas_worker"  # "host:pid" of the worker that holds (or held) the point
# Every record key names its arch, fidelity, recipe, drift settings and seed, so the keys
# with the space and the data set decide whether two workers collect the same design; the
# other fields of the plan are there to say, in words, how two designs differ.
_DECISIVE = ("space", "dataset", "n", "keys")
_READABLE = ("space", "dataset", "fidelity", "recipe", "drift", "seed", "design_seed", "bins", "n", "keys")


@dataclass(frozen=True)
class QueueSettings:
    heartbeat: float = 10.0
    """Seconds between heartbeat stamps of the point being measured."""
    grace: float = 120.0
    """Seconds without a heartbeat after which a claimed point is taken back."""
    poll: float = 2.0
    """Seconds between looks at the queue while other workers hold the last points."""
    name: str = DEFAULT_QUEUE
    """Study name of the queue: one collection per name on a storage."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise SurrogateError("--queue needs a name")
        if not (0 < self.heartbeat < self.grace):
            raise SurrogateError(
                f"queue heartbeat ({self.heartbeat} s) must be > 0 and below the grace ({self.grace} s)"
            )


def keys_digest(keys: list[str]) -> str:
    """A short digest of a design's record keys (which points, in which order)."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def open_queue_storage(url: str) -> Any:
    """An ``OpenedStorage`` for ``url``: an RDB URL, or a journal file path."""
    from analognas._storage import _open_journal, _open_rdb

    text = url.strip()
    if "://" not in text:
        path = Path(text)
        if not path.parent.is_dir():
            raise SurrogateError(f"--storage {text}: folder {path.parent} does not exist")
        return _open_journal(path)
    return _open_rdb(text)


class DesignQueue:
    """One worker's view of the shared queue of a plan."""

    def __init__(self, opened: Any, keys: list[str], settings: QueueSettings | None = None,
                 identity: dict[str, Any] | None = None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.opened = opened
        self.keys = list(keys)
        self._key_set = set(self.keys)
        self.settings = settings or QueueSettings()
        self.name = self.settings.name
        # through JSON, as the storage keeps it, so tuples and lists compare equal
        self.identity = json.loads(json.dumps({**(identity or {}), "n": len(self.keys),
                                               "keys": keys_digest(self.keys)}, sort_keys=True))
        if self.name == DEFAULT_QUEUE:
            self.name = self._earlier_name(optuna, opened.storage)
        self.study = optuna.create_study(study_name=self.name, storage=opened.storage, load_if_exists=True)
        self._gate = opened.gate(self.name)
        self._check_plan()

    def _earlier_name(self, optuna: Any, storage: Any) -> str:
        """The default name, or the study an earlier version named after this design's keys.

        Before ``--queue`` existed a queue was ``analognas-collect-<keys digest>``, which
        holds exactly this design; a collection started then resumes in its own study."""
        legacy = f"{DEFAULT_QUEUE}-{keys_digest(self.keys)}"
        try:
            names = {s.study_name for s in storage.get_all_studies()}
        except Exception:  # listing is a convenience: the default name always works
            return DEFAULT_QUEUE
        return legacy if legacy in names else DEFAULT_QUEUE

    def _check_plan(self) -> None:
        """Claim an empty queue (or one holding only this design's points), else refuse."""
        with self._gate:
            held = self.study.user_attrs.get(PLAN_ATTR)
            if held is None:
                foreign = [t for t in self.study.get_trials(deepcopy=False) if self._foreign(t)]
                if not foreign:
                    self.study.set_user_attr(PLAN_ATTR, self.identity)
                    return
                raise SurrogateError(
                    f"queue {self.name!r} holds {len(foreign)} trial(s) that are not points of this design (another "
                    "study, or a queue of another design): give this collection its own --queue NAME"
                )
        if not isinstance(held, dict):
            raise SurrogateError(f"queue {self.name!r} has an unreadable design record ({PLAN_ATTR}={held!r}): "
                                 "give this collection its own --queue NAME")
        if any(held.get(k) != self.identity.get(k) for k in _DECISIVE):
            order = [*_READABLE, *sorted((set(held) | set(self.identity)) - set(_READABLE))]
            diff = [f"{k}: queue {held.get(k)!r}, this worker {self.identity.get(k)!r}" for k in order
                    if held.get(k) != self.identity.get(k)]
            raise SurrogateError(
                f"queue {self.name!r} holds another design ({'; '.join(diff[:3])}): start every worker with the "
                "same flags, or give this collection its own --queue NAME"
            )
        # the same keys described by an earlier version are the same design: accepted, and the
        # description is left as it is so that workers of that version keep working beside this one

    def _foreign(self, t: Any) -> bool:
        """A trial that is no point of this design: another point's key, or somebody's own
        trial (with parameters, queued, or finished). A bare keyless trial left by a worker
        killed between ``ask`` and marking it spare is not foreign."""
        from optuna.trial import TrialState

        key = t.user_attrs.get(KEY_ATTR)
        if key is not None:
            return key not in self._key_set
        if t.user_attrs.get(STATUS_ATTR) == "spare":
            return False
        return bool(t.params or t.system_attrs.get("fixed_params")) or t.state in (TrialState.WAITING,
                                                                                  TrialState.COMPLETE)

    # ---------------------------------------------------------------- queue state
    def _by_key(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for t in self.study.get_trials(deepcopy=False):
            key = t.user_attrs.get(KEY_ATTR)
            if key is not None:
                out.setdefault(key, []).append(t)
        return out

    def refill(self, skip: set[str]) -> None:
        """Under the study lock: take back stale claims, and queue every point that has no
        waiting, running or finished trial (first start, or a point taken back)."""
        from optuna.trial import TrialState

        now = time.time()
        with self._gate:
            by_key = self._by_key()
            for trials in by_key.values():
                for t in trials:
                    beat = t.system_attrs.get(BEAT_ATTR, t.datetime_start.timestamp() if t.datetime_start else now)
                    if t.state is TrialState.RUNNING and now - float(beat) > self.settings.grace:
                        self.study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            by_key = self._by_key()
            live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
            for key in self.keys:
                if key in skip or any(t.state in live for t in by_key.get(key, [])):
                    continue
                self.study.enqueue_trial({}, user_attrs={KEY_ATTR: key}, skip_if_exists=False)

    def finished(self) -> dict[str, dict[str, Any]]:
        """Key -> record (or failure) of every finished point."""
        from optuna.trial import TrialState

        out = {}
        for key, trials in self._by_key().items():
            for t in trials:
                if t.state is TrialState.COMPLETE and RECORD_ATTR in t.user_attrs:
                    out[key] = json.loads(t.user_attrs[RECORD_ATTR])
        return out

    # ---------------------------------------------------------------- one point
    def claim(self) -> tuple[Any, str] | None:
        """The next waiting point (trial, key), or None when none is waiting."""
        from optuna.trial import TrialState

        if not any(t.state is TrialState.WAITING for t in self.study.get_trials(deepcopy=False)):
            return None
        trial = self.study.ask()
        key = trial.user_attrs.get(KEY_ATTR)
        if key is None:  # another worker took the last waiting point between the look and the ask
            trial.set_user_attr(STATUS_ATTR, "spare")
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        self.study._storage.set_trial_system_attr(trial._trial_id, BEAT_ATTR, time.time())
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        return trial, key

    def measure(self, trial: Any, key: str, work: Callable[[], tuple[str, dict[str, Any]]]) -> None:
        """Run ``work()`` -> (status, record) with heartbeats, then finish the trial."""
        stop = threading.Event()
        storage, trial_id = self.study._storage, trial._trial_id

        def beat() -> None:
            while not stop.wait(self.settings.heartbeat):
                try:
                    storage.set_trial_system_attr(trial_id, BEAT_ATTR, time.time())
                except Exception:  # a lost beat only risks a re-measure
                    pass

        thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
        thread.start()
        try:
            status, record = work()
        finally:
            stop.set()
            thread.join()
        trial.set_user_attr(STATUS_ATTR, status)
        trial.set_user_attr(RECORD_ATTR, json.dumps(record, allow_nan=False))
        self.study.tell(trial, 0.0)
