"""Collection: measure the designed architectures with the real pipeline, resumably.

Each architecture of the design is HWA-trained and drift-evaluated by
`analognas.training.evaluate_architecture(..., modes=("hwa",))` and appended to the record
store as one self-describing line. The run can be killed at any moment and restarted: an
item is done when its key (arch id, fidelity hash, recipe hash, drift hash, seed) is in
the store, and only then. Several processes - the `--workers` of one run, or two `collect`
commands started by hand - share the work through per-item claims (see `_store`), so no
architecture is measured twice at once, and a dead process's item is taken by the next
one that looks. Training that diverges is written to `<records>.failed.jsonl` and the run
goes on; re-running does not retry it unless asked (divergence is deterministic for a seed).

Torch is imported only when measuring, never by `import analognas.surrogate`.
Workers are fresh interpreters (`python -m analognas.surrogate._collect PLAN K N OUT`) so
that the allocator settings below are in place before the process starts: glibc reads
them once, and with its defaults a long run of aihwkit tensors of changing sizes spends
much of its time returning and re-mapping memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analognas.space import ArchSpec, SearchSpace
from analognas.surrogate._design import DEFAULT_BINS, Design, design_architectures
from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._queue import DesignQueue, QueueSettings, open_queue_storage
from analognas.surrogate._records import (
    default_records_path,
    record_key,
)
from analognas.surrogate._store import RecordStore, failed_path

if TYPE_CHECKING:
    from analognas.training import Fidelity
from analognas.surrogate._measure import POLL_SECONDS, WORKER_ENV, CollectEvent, CollectPlan, CollectResult, _Measurer
from analognas.surrogate._reading import collection_times, resolve_reading


def plan_collection(
    space: SearchSpace,
    *,
    n: int,
    fidelity: Fidelity,
    dataset: str = "fashion-mnist",
    recipe: str = "hwa-v2",
    repeats: int | None = None,
    compensation: str | None = None,
    seed: int = 0,
    design_seed: int = 0,
    records: str | Path | None = None,
    images_per_chip: int | None = None,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    retry_failed: bool = False,
    bins: int = DEFAULT_BINS,
    device: str = "cpu",
    drift_times: Iterable[float] = (),
) -> tuple[CollectPlan, Design]:
    """The design and the measuring settings (hashes fixed here, checked by every worker).

    ``design_seed`` picks the architectures and ``seed`` trains and programs them, so
    ``--seed 1`` measures a second training seed of the same design points. ``repeats``
    and ``images_per_chip`` choose how the chips are read (``resolve_reading``);
    ``drift_times`` adds drift times to the ones every record holds (``collection_times``)."""
    from analognas.analog import DriftEvalConfig, get_recipe

    rec = get_recipe(recipe)
    if images_per_chip is not None and images_per_chip < 0:
        raise SurrogateError(f"--images-per-chip must be >= 0 (0 reads the whole test set), got {images_per_chip}")
    repeats, images_per_chip = resolve_reading(fidelity, repeats, images_per_chip)
    times = collection_times(rec.version, drift_times)
    kwargs: dict[str, Any] = {"times": times, "repeats": repeats, "seed": seed, "images_per_chip": images_per_chip}
    if compensation is not None:
        kwargs["compensation"] = compensation
    drift = DriftEvalConfig(**kwargs)
    design = design_architectures(space, n, design_seed, bins=bins)
    path = Path(records) if records is not None else default_records_path(space.name, dataset, fidelity.name)
    items = [(record_key(s.arch_id, fidelity.hash(), rec.hash(), drift.hash(), seed), s.to_dict(include_name=False))
             for s in design.specs]
    plan = CollectPlan(
        space=space.to_dict(), space_fingerprint=space.fingerprint, dataset=dataset, data_dir=data_dir,
        fidelity=fidelity.to_dict(), recipe=recipe, recipe_hash=rec.hash(), drift=drift.to_dict(), seed=seed,
        records=str(path), cache_dir=str(cache_dir) if cache_dir is not None else None, retry_failed=retry_failed,
        items=items, device=device, design_seed=design_seed, bins=bins,
    )
    return plan, design


def collect(
    space: SearchSpace,
    *,
    n: int,
    fidelity: Fidelity,
    dataset: str = "fashion-mnist",
    recipe: str = "hwa-v2",
    repeats: int | None = None,
    compensation: str | None = None,
    seed: int = 0,
    design_seed: int = 0,
    records: str | Path | None = None,
    images_per_chip: int | None = None,
    workers: int = 1,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    retry_failed: bool = False,
    bins: int = DEFAULT_BINS,
    progress: Callable[[CollectEvent], None] | None = None,
    device: str = "cpu",
    storage: str | None = None,
    queue: QueueSettings | None = None,
    drift_times: Iterable[float] = (),
) -> CollectResult:
    """Measure the first `n` architectures of the design of `space` (see module doc).

    With `workers == 1` the measuring runs in this process; with more, in that many fresh
    worker processes, each starting on its own stripe of what is left to measure.
    """
    if workers < 1:
        raise SurrogateError(f"--workers must be >= 1, got {workers}")
    if storage is not None and workers != 1:
        raise SurrogateError("--storage runs one worker per process: start more processes (or machines) instead")
    plan, design = plan_collection(space, n=n, fidelity=fidelity, dataset=dataset, recipe=recipe, repeats=repeats,
                                   compensation=compensation, seed=seed, design_seed=design_seed, records=records,
                                   images_per_chip=images_per_chip, data_dir=data_dir,
                                   cache_dir=cache_dir, retry_failed=retry_failed, bins=bins, device=device,
                                   drift_times=drift_times)
    store, fstore = RecordStore(plan.records), RecordStore(failed_path(plan.records))
    # before any queue is opened: a refused worker must not have claimed an empty queue
    # with its design (the queue's own check would then refuse every rightly started worker)
    _check_one_protocol(store, plan)
    keys = [k for k, _ in plan.items]

    def done_now() -> int:
        done = store.keys() | (set() if retry_failed else fstore.keys())
        return sum(k in done for k in keys)

    start_done = done_now()
    t0 = time.perf_counter()
    state = {"last": None, "current": None}

    def report(written: int, failed: int, done: int) -> None:
        if progress is None:
            return
        elapsed = time.perf_counter() - t0
        measured = done - start_done
        eta = elapsed / measured * (len(keys) - done) if measured > 0 else None
        progress(CollectEvent(done, len(keys), written, start_done, failed, elapsed, eta, state["last"],
                              state["current"]))

    if storage is not None:
        written, failed, failures = _run_queue(plan, storage, queue or QueueSettings(), state, report)
    elif start_done == len(keys):
        written, failed, failures = 0, 0, []
    elif workers == 1:
        written, failed, failures = _run_here(plan, state, report)
    else:
        done = store.keys() | (set() if retry_failed else fstore.keys())
        left = replace(plan, items=[it for it in plan.items if it[0] not in done])
        written, failed, failures = _run_workers(left, workers, done_now, report)
    wall = time.perf_counter() - t0
    report(written, failed, done_now())
    return CollectResult(Path(plan.records), failed_path(plan.records), len(keys), written, start_done, failed, wall,
                         design, failures)


def protocol_version(recipe: dict[str, Any] | None) -> int:
    """Measurement-protocol version of a record's recipe (1 for records without one)."""
    return int((recipe or {}).get("version", 1))


def _check_one_protocol(store: RecordStore, plan: CollectPlan) -> None:
    """Refuse to append records of one protocol version to a file holding another (v1 and
    v2 records measure different quantities and must never share a fit), or records of
    other measuring conditions (fidelity, recipe, drift settings less their seed) to a
    file of one cohort: a fit of the file would find two cohorts it cannot tell apart."""
    if not Path(plan.records).exists():
        return
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.surrogate._cohort import Cohort

    want = get_recipe(plan.recipe).version
    planned = Cohort.of({
        "space": {"name": plan.space.get("name"), "fingerprint": plan.space_fingerprint},
        "dataset": {"name": plan.dataset}, "fidelity_name": plan.fidelity["name"],
        "fidelity_hash": _fidelity_hash(plan.fidelity), "recipe_name": plan.recipe, "recipe_hash": plan.recipe_hash,
        "drift": plan.drift, "drift_hash": DriftEvalConfig.from_dict(plan.drift).hash(),
    })
    for rec in store.read().records:
        have = protocol_version(rec.get("recipe"))
        if have != want:
            raise SurrogateError(
                f"{plan.records} holds protocol-v{have} records (recipe {rec.get('recipe_name')}); recipe {plan.recipe}"
                f" measures protocol v{want}: collect them into another --records file"
            )
        try:
            theirs = Cohort.of(rec)
        except (KeyError, TypeError, AttributeError):
            continue  # a malformed line is load_records' to report
        if theirs.space_fingerprint == planned.space_fingerprint and theirs != planned:
            raise SurrogateError(
                f"{plan.records} holds records measured with {planned.differs(theirs)}; this collection measures "
                f"with {theirs.differs(planned)}: collect them into another --records file"
            )


def _fidelity_hash(fidelity: dict[str, Any]) -> str:
    from analognas.training import Fidelity

    return Fidelity.from_dict(fidelity).hash()


def _run_queue(plan: CollectPlan, url: str, settings: QueueSettings, state: dict[str, Any],
               report: Callable[[int, int, int], None]) -> tuple[int, int, list[str]]:
    """Work through the shared queue of ``plan`` (see ``_queue``) until every point is done."""
    from analognas.analog import DriftEvalConfig
    from analognas.training import Fidelity

    keys = [k for k, _ in plan.items]
    specs = dict(plan.items)
    # the hashes the record keys carry, so the description names what the keys encode
    identity = {"space": f"{plan.space.get('name')} ({plan.space_fingerprint})", "dataset": plan.dataset,
                "fidelity": f"{plan.fidelity.get('name')} ({Fidelity.from_dict(plan.fidelity).hash()})",
                "recipe": f"{plan.recipe} ({plan.recipe_hash})", "drift": DriftEvalConfig.from_dict(plan.drift).hash(),
                "seed": plan.seed,
                "design_seed": plan.design_seed, "bins": plan.bins}
    # the queue's check comes first: a refused worker never loads data or builds models
    q = DesignQueue(open_queue_storage(url), keys, settings, identity)
    m = _Measurer(plan)

    def sync() -> None:
        have = m.store.keys() | m.failed_store.keys()
        for key, rec in q.finished().items():
            if key in have:
                continue
            (m.failed_store if "error_type" in rec else m.store).append(rec)

    def done_count() -> int:
        done = m.done_keys()
        return sum(k in done for k in keys)

    sync()
    local = m.done_keys()
    q.refill(skip=local)
    while True:
        claimed = q.claim()
        if claimed is None:
            q.refill(skip=local)
            finished = set(q.finished()) | local
            if all(k in finished for k in keys):
                break
            time.sleep(settings.poll)
            continue
        trial, key = claimed
        state["current"] = f"measuring {ArchSpec.from_dict(specs[key]).arch_id}"
        report(m.written, m.failed, done_count())

        def work(key: str = key) -> tuple[str, dict[str, Any]]:
            if key in m.store.keys():  # measured here, killed before it was handed in
                return "measured", next(r for r in m.store.read().records if r.get("key") == key)
            state["last"] = m._measure(key, ArchSpec.from_dict(specs[key]), None)
            return m.last

        q.measure(trial, key, work)
        state["current"] = None
        report(m.written, m.failed, done_count())
    sync()
    return m.written, m.failed, m.failures


def _run_here(plan: CollectPlan, state: dict[str, Any],
              report: Callable[[int, int, int], None]) -> tuple[int, int, list[str]]:
    keys = [k for k, _ in plan.items]
    m = _Measurer(plan)

    def done_count() -> int:
        done = m.done_keys()
        return sum(k in done for k in keys)

    def on_item(label: str) -> None:
        state["last"], state["current"] = label, None
        report(m.written, m.failed, done_count())

    def on_step(desc: str) -> None:
        state["current"] = desc
        report(m.written, m.failed, done_count())

    report(0, 0, done_count())
    m.run(list(range(len(plan.items))), on_item, on_step)
    return m.written, m.failed, m.failures


def _run_workers(plan: CollectPlan, workers: int, done_now: Callable[[], int],
                 report: Callable[[int, int, int], None]) -> tuple[int, int, list[str]]:
    folder = Path(plan.records).parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{Path(plan.records).name}.run-", dir=folder))
    plan_file = tmp / "plan.json"
    plan_file.write_text(plan.to_json())
    env = {**os.environ, **WORKER_ENV}
    procs = []
    for k in range(workers):
        log = open(tmp / f"worker{k}.log", "wb")  # closed in the finally below
        cmd = [sys.executable, "-m", "analognas.surrogate._collect", str(plan_file), str(k), str(workers),
               str(tmp / f"worker{k}.json")]
        procs.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        while any(p.poll() is None for p, _ in procs):
            report(0, 0, done_now())
            time.sleep(POLL_SECONDS)
    except BaseException:
        for p, _ in procs:
            p.terminate()
        for p, _ in procs:
            p.wait()
        raise
    finally:
        for _, log in procs:
            log.close()
    written = failed = 0
    failures: list[str] = []
    crashed = []
    for k, (p, _) in enumerate(procs):
        out = tmp / f"worker{k}.json"
        if p.returncode == 0 and out.exists():
            s = json.loads(out.read_text())
            written, failed, failures = written + s["written"], failed + s["failed"], failures + s["failures"]
        else:
            lines = (tmp / f"worker{k}.log").read_text(errors="replace").strip().splitlines()
            crashed.append(f"worker {k} exited with {p.returncode}: {lines[-1] if lines else 'no output'}")
    if crashed:
        raise SurrogateError(f"{'; '.join(crashed)} (logs in {tmp}); records written so far are kept, "
                             "re-run to resume")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return written, failed, failures


def _stripe(n_items: int, k: int, workers: int) -> list[int]:
    """Worker k's items first (every workers-th), then the others': it helps when done."""
    mine = list(range(k, n_items, workers))
    return mine + [i for i in range(n_items) if i % workers != k]


def _worker_main(argv: list[str]) -> int:
    plan_file, k, workers, out = argv[0], int(argv[1]), int(argv[2]), argv[3]
    import torch

    torch.set_num_threads(1)
    parent = os.getppid()
    plan = CollectPlan.from_json(Path(plan_file).read_text())
    m = _Measurer(plan)

    def check_parent(_label: str) -> None:
        # An orphaned worker finishes (and records) its item, then stops: nothing is lost,
        # and a killed `collect` does not leave processes measuring behind the user's back.
        if os.getppid() != parent:
            raise SystemExit(3)

    m.run(_stripe(len(plan.items), k, workers), on_item=check_parent)
    Path(out).write_text(json.dumps({"written": m.written, "failed": m.failed, "failures": m.failures}))
    return 0


if __name__ == "__main__":  # a worker process of `collect --workers K`
    sys.exit(_worker_main(sys.argv[1:]))

