"""Many workers, one study, an exact global budget; and a search killed with SIGKILL.

All real: `analognas search` processes (the installed console script), a throwaway
PostgreSQL cluster started here, Optuna's own readers to check the result. Each
PostgreSQL worker gets its own working folder, as separate machines would.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_search_support import (
    PgCluster,
    journal_trials,
    postgres_cluster,
    start_cli,
    wait_for,
)

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def pg() -> Iterator[PgCluster]:
    """One throwaway cluster for this module's tests (each uses its own study name)."""
    with postgres_cluster() as cluster:
        yield cluster


def rerun(args: list[str], cwd: Path):
    """Run the CLI command in this process, from `cwd`."""
    from typer.testing import CliRunner

    from analognas.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, args)
    finally:
        os.chdir(old)


def check_exact(trials: list[dict], budget: int, workers: int | None = None) -> Counter:
    """Exactly `budget` finished trials, numbered 0..budget-1, none duplicated, none lost."""
    assert len(trials) == budget
    assert sorted(t["number"] for t in trials) == list(range(budget))
    assert {t["state"] for t in trials} <= {"COMPLETE", "PRUNED", "FAIL"}
    uids = [t["uid"] for t in trials]
    assert len(set(uids)) == budget and None not in uids  # every trial written once, by exactly one worker
    per_worker: dict[int, list[int]] = {}
    for uid in uids:
        w, n = (int(x) for x in uid.split(":"))
        per_worker.setdefault(w, []).append(n)
    for w, ns in per_worker.items():  # a worker's trials are 0..k-1 with no gap: nothing it wrote was lost
        assert sorted(ns) == list(range(len(ns))), (w, sorted(ns))
    if workers is not None:
        assert set(per_worker) <= set(range(workers))
    return Counter({w: len(ns) for w, ns in per_worker.items()})


def test_three_workers_share_one_postgres_study_with_an_exact_budget(
    tmp_path: Path, resnet_surrogate: Path, pg: PgCluster
) -> None:
    import optuna

    budget = 45
    url = pg.url
    procs = []
    for i in range(3):
        cwd = tmp_path / f"machine{i}"
        cwd.mkdir()
        procs.append(
            start_cli(
                [
                    "search",
                    "--name",
                    "shared",
                    "--storage",
                    url,
                    "--budget",
                    str(budget),
                    "--batch-size",
                    "3",
                    "--surrogate",
                    str(resnet_surrogate),
                    "--json",
                ],
                cwd,
            )
        )
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    summaries = [json.loads(out) for out, _ in outs]
    study = optuna.load_study(study_name="shared", storage=url)
    trials = [
        {"number": t.number, "state": t.state.name, "uid": t.system_attrs.get("analognas:uid")} for t in study.trials
    ]
    per_worker = check_exact(trials, budget, workers=3)
    assert sum(s["n_written"] for s in summaries) == budget
    assert all(s["n_trials"] == budget for s in summaries)  # every worker saw the study end at the budget
    assert sorted(s["worker"] for s in summaries) == [0, 1, 2]
    assert {s["worker"]: s["n_written"] for s in summaries if s["n_written"]} == dict(per_worker)
    assert len(per_worker) >= 2, per_worker  # the workers really ran side by side
    assert "secret" not in json.dumps(summaries) and all(s["storage"] == url for s in summaries)
    for i in range(3):  # each machine has its own complete copy of the results
        assert len((tmp_path / f"machine{i}/runs/shared/trials.csv").read_text().splitlines()) == budget + 1


def test_two_workers_share_the_default_journal_file(tmp_path: Path, resnet_surrogate: Path) -> None:
    budget = 80
    args = [
        "search",
        "--name",
        "pair",
        "--budget",
        str(budget),
        "--batch-size",
        "4",
        "--surrogate",
        str(resnet_surrogate),
        "--json",
    ]
    procs = [start_cli(args, tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    summaries = [json.loads(out) for out, _ in outs]
    trials = journal_trials(tmp_path / "runs/pair/study.journal")
    per_worker = check_exact(trials, budget, workers=2)
    assert sum(s["n_written"] for s in summaries) == budget == sum(per_worker.values())


def test_sigkill_mid_run_then_rerun_loses_nothing_and_ends_at_the_budget(
    tmp_path: Path, resnet_surrogate: Path
) -> None:
    budget = 100
    args = [
        "search",
        "--name",
        "killed",
        "--budget",
        str(budget),
        "--batch-size",
        "2",
        "--surrogate",
        str(resnet_surrogate),
        "--quiet",
    ]
    journal = tmp_path / "runs/killed/study.journal"
    proc = start_cli(args, tmp_path)
    try:
        started = wait_for(lambda: journal.exists() and len(journal_trials(journal)) >= 30, timeout=300)
        assert started, proc.stderr.read() if proc.poll() is not None else "no trials written in time"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    before = journal_trials(journal)
    assert 30 <= len(before) < budget, len(before)
    assert {t["state"] for t in before} <= {"COMPLETE", "PRUNED", "FAIL"}  # killed: nothing half-written
    res = rerun(args, tmp_path)  # the same command again (in this process: saves a start-up)
    assert res.exit_code == 0, res.stderr
    after = journal_trials(journal)
    check_exact(after, budget)
    assert after[: len(before)] == before  # every trial finished before the kill is still there, unchanged
    assert f"resumed at {len(before)}" in res.stdout


def test_database_lost_mid_search_is_one_line_and_a_rerun_resumes(
    tmp_path: Path, resnet_surrogate: Path, pg: PgCluster
) -> None:
    import optuna

    def args(budget: int) -> list[str]:
        return [
            "search",
            "--name",
            "lost",
            "--storage",
            pg.url,
            "--budget",
            str(budget),
            "--batch-size",
            "2",
            "--surrogate",
            str(resnet_surrogate),
            "--quiet",
        ]

    def n_trials() -> int:
        try:
            return len(optuna.load_study(study_name="lost", storage=pg.url).trials)
        except Exception:
            return 0

    proc = start_cli(args(400), tmp_path)
    try:  # a generous wait: the CLI starts slowly when other jobs keep the cores busy
        assert wait_for(lambda: n_trials() >= 10, timeout=300), "no trials written in time"
        pg.stop()
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: storage postgresql://postgres@127.0.0.1") and "failed during the search" in line
    assert "Traceback" not in err and "resume" in line
    pg.start()
    before = n_trials()
    assert 10 <= before < 400
    final = before + 10  # the same command with a smaller budget (resuming is budget-independent)
    res = rerun(args(final), tmp_path)
    assert res.exit_code == 0, res.stderr
    study = optuna.load_study(study_name="lost", storage=pg.url)
    trials = [
        {"number": t.number, "state": t.state.name, "uid": t.system_attrs.get("analognas:uid")} for t in study.trials
    ]
    check_exact(trials, final)


def test_postgres_fixture_skips_cleanly_without_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.test_search_support as support

    monkeypatch.setattr(support, "_pg_bin", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL server binaries"), support.postgres_cluster():
        pass
