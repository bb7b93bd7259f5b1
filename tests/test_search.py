"""The search library: budget, constraints before the surrogate, resume, identity, files.

Every study here is a real Optuna journal (or SQLite) file read back with Optuna itself;
the surrogate is a real one fitted on records the test wrote (`test_search_support`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analognas._errors import ConfigError, OutputExistsError
from analognas.search import (
    Candidate,
    SearchConfig,
    best_candidate,
    pareto_front,
    parse_objectives,
    probe_constraints,
    read_trials_csv,
    run_search,
)
from analognas.space import load_space
from tests.test_search_support import journal_trials


class Recording:
    """A real surrogate, plus a log of every architecture it was asked about."""

    def __init__(self, inner: Any, fail_on: set[str] | None = None) -> None:
        self.inner, self.fail_on, self.asked = inner, fail_on or set(), []
        self.path, self.targets, self.drift_time = inner.path, inner.targets, inner.drift_time
        self.space_fingerprint = inner.space_fingerprint

    def check_space(self, space: Any) -> None:
        self.inner.check_space(space)

    def predict(self, specs: list[Any]) -> dict[str, Any]:
        self.asked.extend(specs)
        bad = [s.arch_id for s in specs if s.arch_id in self.fail_on]
        if bad:
            raise RuntimeError(f"cannot predict {bad[0]}")
        return self.inner.predict(specs)


@pytest.fixture(scope="module")
def sur(resnet_surrogate: Path) -> Any:
    from analognas.surrogate import load_surrogate

    return load_surrogate(resnet_surrogate)


def cfg(tmp: Path, **kw: Any) -> SearchConfig:
    base: dict[str, Any] = {"name": "t", "runs_dir": tmp, "budget": 40, "seed": 3}
    base.update(kw)
    return SearchConfig(**base)


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


# --- objectives and the constraint probe ---------------------------------------------------
def test_parse_objectives() -> None:
    objs = parse_objectives("accuracy, avm ,tiles")
    assert [o.name for o in objs] == ["accuracy", "avm", "tiles"]
    assert [o.direction.value for o in objs] == ["maximize", "minimize", "minimize"]
    for bad, msg in (
        ("speed", "unknown objective"),
        ("accuracy,accuracy", "twice"),
        ("params", "predicted"),
        ("", "at least one"),
    ):
        with pytest.raises(ConfigError, match=msg):
            parse_objectives(bad)


def test_probe_refuses_unsatisfiable_limits_fast() -> None:
    space = load_space("resnet_like")
    with pytest.raises(ConfigError, match=r"no architecture of space 'resnet_like' meets max_params=10\b.*smallest"):
        probe_constraints(space, space.constraints.merged(max_params=10))
    p = probe_constraints(space, space.constraints.merged(max_params=500_000))
    assert 0.0 < p.feasible_fraction < 1.0 and p.min_params <= 500_000
    assert not space.constraints.merged(max_params=500_000).violations(space.cost(p.example))


# --- one run ------------------------------------------------------------------------------
def test_search_reaches_budget_writes_files_and_identity(tmp_path: Path, sur: Any) -> None:
    res = run_search(cfg(tmp_path, budget=40), surrogate=sur)
    run = tmp_path / "t"
    assert res.run_dir == run and res.n_trials == 40 and res.n_written == 40 and res.resumed_from == 0
    trials = journal_trials(run / "study.journal")
    assert sorted(t["number"] for t in trials) == list(range(40))
    assert {t["state"] for t in trials} <= {"COMPLETE", "PRUNED", "FAIL"}  # nothing left RUNNING
    table = rows(run / "trials.csv")
    assert [int(r["number"]) for r in table] == list(range(40))
    done = [r for r in table if r["state"] == "COMPLETE"]
    assert res.n_feasible == len(done) > 0 and res.n_infeasible == sum(r["state"] == "PRUNED" for r in table)
    best = json.loads((run / "best.json").read_text())
    assert best["predicted"]["accuracy"]["mean"] == max(float(r["value_accuracy"]) for r in done)
    assert best["arch_id"] == res.best.arch_id and best["spec"]["stages"]
    info = json.loads((run / "run.json").read_text())
    digest = hashlib.sha256(Path(sur.path).read_bytes()).hexdigest()[:16]
    assert info["surrogate"]["path"] == str(sur.path) and info["surrogate"]["hash"] == digest
    assert info["identity"]["space"]["fingerprint"] == load_space("resnet_like").fingerprint
    assert info["surrogate"]["space_fingerprint"] == sur.space_fingerprint
    assert info["storage"]["kind"] == "journal" and info["n_trials"] == 40


def test_infeasible_trials_never_reach_the_surrogate(tmp_path: Path, sur: Any) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    rec = Recording(sur)
    res = run_search(cfg(tmp_path, budget=48, max_params=300_000), surrogate=rec)
    space = load_space("resnet_like")
    limits = space.constraints.merged(max_params=300_000)
    assert rec.asked and all(not limits.violations(space.cost(s)) for s in rec.asked)
    study = optuna.load_study(
        study_name="t", storage=JournalStorage(JournalFileBackend(str(res.run_dir / "study.journal")))
    )
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert pruned and complete and len(rec.asked) == len(complete)
    for t in pruned:  # Optuna's own constraint values say infeasible, and no prediction was stored
        assert max(t.constraints.values()) > 0 and "pred" not in t.user_attrs and t.user_attrs["violations"]
    for t in complete:
        assert set(t.constraints) == {"max_params", "max_macs", "max_tiles"}
        assert max(t.constraints.values()) <= 0 and t.user_attrs["cost"]["params"] <= 300_000
    assert res.best.cost["params"] <= 300_000


def test_same_seed_same_result_other_seed_differs(tmp_path: Path, sur: Any) -> None:
    a = run_search(cfg(tmp_path, name="a", budget=32, seed=11), surrogate=sur)
    b = run_search(cfg(tmp_path, name="b", budget=32, seed=11), surrogate=sur)
    c = run_search(cfg(tmp_path, name="c", budget=32, seed=12), surrogate=sur)
    ta, tb, tc = ((r.run_dir / "trials.csv").read_text() for r in (a, b, c))
    assert ta == tb and ta != tc
    assert a.best.arch_id == b.best.arch_id


def test_rerun_resumes_to_a_larger_budget_and_keeps_every_trial(tmp_path: Path, sur: Any) -> None:
    first = run_search(cfg(tmp_path, budget=24), surrogate=sur)
    before = journal_trials(first.run_dir / "study.journal")
    again = run_search(cfg(tmp_path, budget=24), surrogate=sur)
    assert again.n_written == 0 and again.resumed_from == 24 and again.n_trials == 24
    more = run_search(cfg(tmp_path, budget=40), surrogate=sur)
    assert more.resumed_from == 24 and more.n_written == 16 and more.n_trials == 40
    after = journal_trials(first.run_dir / "study.journal")
    assert len(after) == 40 and after[:24] == before
    assert len(rows(first.run_dir / "trials.csv")) == 40


def test_existing_name_with_another_setup_is_refused_unless_force(tmp_path: Path, sur: Any) -> None:
    run_search(cfg(tmp_path, budget=16), surrogate=sur)
    with pytest.raises(OutputExistsError, match=r"run 't'.*different setup.*constraints.*--force"):
        run_search(cfg(tmp_path, budget=16, max_params=400_000), surrogate=sur)
    with pytest.raises(OutputExistsError, match="objectives"):
        run_search(cfg(tmp_path, budget=16, objectives=("accuracy,params",)), surrogate=sur)
    assert len(journal_trials(tmp_path / "t" / "study.journal")) == 16  # refusing touched nothing
    res = run_search(cfg(tmp_path, budget=16, max_params=400_000, force=True), surrogate=sur)
    assert res.resumed_from == 0 and res.n_trials == 16
    assert json.loads((tmp_path / "t" / "run.json").read_text())["identity"]["constraints"]["max_params"] == 400_000


def test_a_trial_whose_evaluation_raises_fails_and_the_search_goes_on(tmp_path: Path, sur: Any) -> None:
    space = load_space("resnet_like")
    probe = Recording(sur)
    run_search(cfg(tmp_path, name="probe", budget=24), surrogate=probe)
    victims = {s.arch_id for s in probe.asked[:3]}  # the same seed will propose them again
    rec = Recording(sur, fail_on=victims)
    res = run_search(cfg(tmp_path, budget=24), surrogate=rec)
    table = rows(res.run_dir / "trials.csv")
    failed = [r for r in table if r["state"] == "FAIL"]
    assert len(table) == 24 and res.n_failed == len(failed) >= 1
    assert {r["arch_id"] for r in failed} <= victims
    assert all("RuntimeError: cannot predict" in r["error"] for r in failed)
    others = [r for r in table if r["state"] == "COMPLETE"]
    assert others and all(r["arch_id"] not in victims for r in others)  # the rest of each batch was predicted
    assert space.name == "resnet_like"


def test_multi_objective_front_is_non_dominated(tmp_path: Path, sur: Any) -> None:
    res = run_search(cfg(tmp_path, budget=40, objectives=("accuracy,avm,tiles",)), surrogate=sur)
    assert res.sampler == "nsga2"
    front = json.loads((res.run_dir / "pareto.json").read_text())
    assert [a["name"] for a in front["axes"]] == ["accuracy", "avm", "tiles"]
    pts = [(c["values"]["accuracy"], c["values"]["avm"], c["values"]["tiles"]) for c in front["candidates"]]
    assert pts and len({c["arch_id"] for c in front["candidates"]}) == len(pts)
    allc = [c for c in read_trials_csv((res.run_dir / "trials.csv").read_text()) if c.complete and c.feasible]
    for p in pts:
        for c in allc:
            q = (c.values["accuracy"], c.values["avm"], c.values["tiles"])
            dominates = q[0] >= p[0] and q[1] <= p[1] and q[2] <= p[2] and q != p
            assert not dominates


def test_pareto_and_best_helpers_on_known_points() -> None:
    from analognas.search import OBJECTIVES

    def cand(n: int, acc: float, params: int, bad: tuple[str, ...] = (), arch: str = "") -> Candidate:
        return Candidate(
            n, "COMPLETE", arch or f"id{n}", None, {"params": params}, {"accuracy": acc}, {"accuracy": (acc, 0.1)}, bad
        )

    cs = [
        cand(0, 90, 500),
        cand(1, 91, 900),
        cand(2, 89, 400),
        cand(3, 88, 450),
        cand(4, 95, 100, bad=("x",)),
        cand(5, 90, 500, arch="id0"),
    ]
    axes = (OBJECTIVES["accuracy"], OBJECTIVES["params"])
    assert [c.number for c in pareto_front(cs, axes)] == [1, 0, 2]  # 3 dominated, 4 infeasible, 5 a duplicate id
    assert best_candidate(cs, (OBJECTIVES["accuracy"],)).number == 1


def test_sqlite_storage_url(tmp_path: Path, sur: Any) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    res = run_search(cfg(tmp_path, budget=20, storage=url), surrogate=sur)
    assert res.n_trials == 20 and res.storage == url
    import optuna

    study = optuna.load_study(study_name="t", storage=url)
    assert len(study.trials) == 20 and not (res.run_dir / "study.journal").exists()


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("not a url", "not a database URL"),
        ("oracle://u@h/db", "unsupported database"),
        ("postgresql://u:secret@127.0.0.1:1/db", "cannot open storage postgresql://u:\\*\\*\\*@127.0.0.1:1/db"),
        ("sqlite:////nonexistent-dir/x.db", "does not exist"),
    ],
)
def test_bad_storage_urls_are_one_clear_error(tmp_path: Path, sur: Any, storage: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        run_search(cfg(tmp_path, storage=storage), surrogate=sur)
    assert "secret" not in str(err.value)


def test_bad_config_is_refused_before_any_work(tmp_path: Path, sur: Any, tiny_surrogate: Path) -> None:
    from analognas.surrogate import SpaceMismatchError, load_surrogate

    for kw, msg in (
        ({"budget": 0}, "--budget must be"),
        ({"drift": 3600.0}, "predicts accuracy 1d"),
        ({"sampler": "cma"}, "--sampler"),
        ({"name": "../x"}, "--name"),
        ({"max_params": 10}, "no architecture"),
    ):
        with pytest.raises(ConfigError, match=msg):
            run_search(cfg(tmp_path, **kw), surrogate=sur)
    with pytest.raises(SpaceMismatchError):
        run_search(cfg(tmp_path), surrogate=load_surrogate(tiny_surrogate))
    assert not (tmp_path / "t").exists()


def test_worker_seeds_differ_but_worker_zero_uses_the_seed() -> None:
    from analognas.search._sampler import _worker_seed

    assert _worker_seed(7, 0) == 7
    assert len({_worker_seed(7, k) for k in range(1, 6)} | {7}) == 6
    assert np.isfinite(_worker_seed(7, 3))
