"""`collect --storage URL`: the design as a queue on a real PostgreSQL cluster.

Three workers in three folders (three "machines", each with its own record store and
checkpoint cache) share one queue; one is SIGKILLed while measuring. Every point must be
measured and handed in exactly once, the killed worker's point retaken after the grace
period, and every surviving store must end up with the whole collection, each record once.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_search_support import REPO, PgCluster, postgres_cluster, start_cli, wait_for

pytestmark = pytest.mark.slow

N = 8
ARGS = ["collect", "--space", str(REPO / "search_spaces" / "tiny.toml"), "--n", str(N), "--fidelity", "smoke",
        "--train-size", "256", "--test-size", "128", "--epochs", "1", "--hwa-epochs", "1", "--repeats", "1",
        "--records", "r.jsonl", "--cache-dir", "cache", "--grace-seconds", "6", "-q", "--device", "cpu"]


@pytest.fixture(scope="module")
def pg() -> Iterator[PgCluster]:
    with postgres_cluster() as cluster:
        yield cluster


def _keys(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip()]


def _queue_trials(url: str) -> list[tuple[str | None, str, str | None]]:
    import optuna

    storage = optuna.storages.RDBStorage(url)
    out = []
    for s in storage.get_all_studies():
        for t in storage.get_all_trials(s._study_id):
            out.append((t.user_attrs.get("analognas_key"), t.state.name, t.user_attrs.get("analognas_status")))
    return out


def _holds_a_point(storage: Any, pid: int, done: list[str]) -> bool:
    """Whether worker ``pid`` holds a RUNNING point it has not recorded yet (the queue
    stamps each claim with the claimer's host:pid)."""
    return any(
        t.state.name == "RUNNING" and str(t.user_attrs.get("analognas_worker", "")).endswith(f":{pid}")
        and t.user_attrs.get("analognas_key") not in done
        for s in storage.get_all_studies() for t in storage.get_all_trials(s._study_id)
    )


def test_three_workers_share_one_queue_and_a_killed_one_loses_only_its_point(pg: PgCluster, tmp_path: Path) -> None:
    url = pg.url
    folders = [tmp_path / f"machine{k}" for k in range(3)]
    for f in folders:
        f.mkdir()
    # machine 0 starts first, so that it is still measuring when the test kills it (a worker
    # that starts late on a busy machine may find the queue empty); the other two join
    # once it has handed in its first point and hold the rest between them
    victim = start_cli([*ARGS, "--storage", url], cwd=folders[0])
    assert wait_for(lambda: len(_keys(folders[0] / "r.jsonl")) >= 1 or victim.poll() is not None, 240)
    procs = [victim, *(start_cli([*ARGS, "--storage", url], cwd=f) for f in folders[1:])]
    # kill machine 0 while it is measuring: after its first record, once it holds the next point
    import optuna

    storage = optuna.storages.RDBStorage(url)  # one engine for the whole wait, not one per look
    assert wait_for(lambda: _holds_a_point(storage, victim.pid, _keys(folders[0] / "r.jsonl"))
                    or victim.poll() is not None, 120, interval=0.5)
    assert victim.poll() is None, "the victim finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    for p in procs[1:]:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    trials = _queue_trials(url)
    finished = Counter(k for k, state, status in trials if k is not None and state == "COMPLETE")
    assert len(finished) == N and set(finished.values()) == {1}  # every point handed in exactly once
    design = set(finished)
    for f in folders[1:]:
        keys = _keys(f / "r.jsonl")
        assert sorted(keys) == sorted(design) and len(keys) == N  # the whole collection, each record once
    killed = _keys(folders[0] / "r.jsonl")
    assert len(killed) == len(set(killed)) and set(killed) <= design
    # the killed worker's claim was taken back: a FAIL trial for a key that was then completed
    retaken = [k for k, state, _ in trials if k is not None and state == "FAIL"]
    assert retaken and all(k in design for k in retaken)
    # restarting the killed machine measures nothing and fills its store from the queue
    again = start_cli([*ARGS, "--storage", url, "--json"], cwd=folders[0])
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert json.loads(out)["written"] == 0
    assert sorted(_keys(folders[0] / "r.jsonl")) == sorted(design)


def test_bad_storage_is_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from analognas.cli import app

    res = CliRunner().invoke(app, [*ARGS, "--storage", "oracle://nobody@localhost/db"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    res = CliRunner().invoke(app, [*ARGS, "--storage", str(tmp_path / "no" / "such" / "q.journal")])
    assert res.exit_code == 2 and "does not exist" in res.output, res.output


def test_a_worker_with_another_design_is_refused_and_loses_nothing(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue knows its design: a worker started with other flags gets one line, exit 2."""
    from typer.testing import CliRunner

    from analognas.cli import app

    monkeypatch.chdir(tmp_path)  # ARGS name the record store and cache relative to the worker's folder
    journal = str(tmp_path / "q.journal")
    base = [a if a != str(N) else "2" for a in ARGS]  # two points: seconds

    def run(*extra: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, [*base, "--storage", journal, *extra])

    first = run()
    assert first.exit_code == 0, first.output
    before = (tmp_path / "r.jsonl").read_bytes()
    # flags that change what a record measures go to another record file (the record file
    # refuses them first, below); the queue refuses every one of them for its design
    for extra, field in ((["--seed", "1"], "seed"), (["--epochs", "2", "--records", "e.jsonl"], "fidelity"),
                         (["--n", "3"], "n"), (["--repeats", "2", "--records", "p.jsonl"], "drift"),
                         (["--design-seed", "5"], "design_seed")):
        res = run(*extra)
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        assert "holds another design" in res.output and f"{field}:" in res.output and "--queue" in res.output
    assert (tmp_path / "r.jsonl").read_bytes() == before
    assert not (tmp_path / "e.jsonl").exists() and not (tmp_path / "p.jsonl").exists()
    # the record file of another cohort: refused before any queue is opened, so a wrongly
    # started worker never takes an empty queue over with its design
    res = run("--epochs", "2", "--queue", "longer")
    assert res.exit_code == 2 and "r.jsonl holds records measured with fidelity" in res.output, res.output
    assert (tmp_path / "r.jsonl").read_bytes() == before
    assert "longer" not in {s.study_name for s in _studies(Path(journal))}
    # its own queue name on the same storage: measured, into its own record file
    other = run("--seed", "1", "--queue", "second-seed", "--records", "r1.jsonl")
    assert other.exit_code == 0, other.output
    assert len(_keys(tmp_path / "r1.jsonl")) == 2 and (tmp_path / "r.jsonl").read_bytes() == before


def _studies(journal: Path) -> list[Any]:
    import optuna

    from analognas._storage import _open_journal

    return optuna.get_all_study_summaries(storage=_open_journal(journal).storage)


def _study(journal: Path, name: str) -> Any:
    import optuna

    from analognas._storage import _open_journal

    return optuna.load_study(study_name=name, storage=_open_journal(journal).storage)


def test_a_queue_is_claimed_only_when_its_trials_are_this_designs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A study with other trials is never taken over; an earlier version's queue (named after
    the keys, without a design record) is resumed; an older description of the same keys is
    accepted and kept, not refused."""
    import optuna
    from typer.testing import CliRunner

    from analognas._storage import _open_journal
    from analognas.cli import app
    from analognas.surrogate._queue import DEFAULT_QUEUE, PLAN_ATTR

    monkeypatch.chdir(tmp_path)
    base = [a if a != str(N) else "2" for a in ARGS]

    def run(journal: Path, *extra: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, [*base, "--storage", str(journal), *extra])

    # somebody's own study under the default name: refused, its trials untouched
    foreign = tmp_path / "foreign.journal"
    study = optuna.create_study(study_name=DEFAULT_QUEUE, storage=_open_journal(foreign).storage)
    study.enqueue_trial({"x": 1.0})
    res = run(foreign)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "not points of this design" in res.output and "--queue" in res.output
    after = _study(foreign, DEFAULT_QUEUE)
    assert len(after.trials) == 1 and PLAN_ATTR not in after.user_attrs and not (tmp_path / "r.jsonl").exists()

    first = run(tmp_path / "q.journal")
    assert first.exit_code == 0, first.output
    before = (tmp_path / "r.jsonl").read_bytes()
    plan = _study(tmp_path / "q.journal", DEFAULT_QUEUE).user_attrs[PLAN_ATTR]

    # an earlier version's queue: named after the keys, no design record; resumed even where
    # another collection has since taken the default name
    legacy_journal, legacy = tmp_path / "legacy.journal", f"{DEFAULT_QUEUE}-{plan['keys']}"
    assert run(legacy_journal, "--queue", legacy).exit_code == 0
    _study(legacy_journal, legacy).set_user_attr(PLAN_ATTR, None)
    optuna.create_study(study_name=DEFAULT_QUEUE, storage=_open_journal(legacy_journal).storage)
    again = run(legacy_journal, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["written"] == 0
    assert _study(legacy_journal, legacy).user_attrs[PLAN_ATTR] == plan
    assert _study(legacy_journal, DEFAULT_QUEUE).trials == []  # nothing queued beside it

    # a worker killed between ask() and marking its spare trial leaves a bare keyless trial:
    # not foreign, the queue is still claimed
    bare = tmp_path / "bare.journal"
    optuna.create_study(study_name=DEFAULT_QUEUE, storage=_open_journal(bare).storage).ask()
    assert run(bare).exit_code == 0
    assert _study(bare, DEFAULT_QUEUE).user_attrs[PLAN_ATTR] == plan

    # the same keys described the way an earlier version did: accepted, the description kept
    # (so workers of that version, started beside this one, are not refused)
    old = {k: v for k, v in plan.items() if k not in ("design_seed", "bins")}
    described = {**old, "fidelity": "smoke (0123456789)"}
    _study(tmp_path / "q.journal", DEFAULT_QUEUE).set_user_attr(PLAN_ATTR, described)
    renewed = run(tmp_path / "q.journal")
    assert renewed.exit_code == 0, renewed.output
    assert _study(tmp_path / "q.journal", DEFAULT_QUEUE).user_attrs[PLAN_ATTR] == described
    assert (tmp_path / "r.jsonl").read_bytes() == before
