"""The default surrogate shipped in surrogates/: loadable, reproducible from the committed
records, fitted on the default space, and enough for the main job (`search --budget 200`).

These tests read the real shipped file and the real measured records; nothing is faked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_search_support import cli_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "surrogates" / "fashion-mnist-resnet_like.json"


@pytest.fixture(scope="module")
def shipped():
    from analognas.surrogate import load_surrogate

    assert SHIPPED.is_file(), f"the default surrogate {SHIPPED} is missing"
    return load_surrogate(SHIPPED)  # refits and checks the stored predictions are reproduced


def test_shipped_surrogate_is_fitted_on_the_default_space_and_measured_records(shipped) -> None:
    from analognas.space import load_space

    m = shipped.meta
    assert shipped.space_fingerprint == load_space("resnet_like").fingerprint
    assert m["dataset"] == "fashion-mnist" and m["fidelity"]["name"] == "low" and m["recipe"]["name"] == "hwa-v1"
    assert shipped.drift_time == 86_400.0 and set(shipped.models) == {"accuracy", "avm", "spread"}
    assert m["n_architectures"] >= 150
    # every record it was fitted on is committed, measured by this project's pipeline
    keys = set()
    for rel in m["records"]:
        for line in (REPO / rel).read_text().splitlines():
            rec = json.loads(line)
            keys.add(rec["key"])
            assert rec["wall_seconds"] > 0 and rec["versions"]["aihwkit"] and rec["recipe_hash"] == m["recipe"]["hash"]
    assert set(m["record_keys"]) <= keys
    for target, mod in shipped.models.items():
        assert mod.cv["n"] == m["n_architectures"], target
        assert -1.0 <= mod.cv["kendall_tau"] <= 1.0


def test_refitting_the_committed_records_reproduces_the_shipped_cv_figures(shipped) -> None:
    """The README's CV table comes from these records and this code, not from anywhere else."""
    from analognas.surrogate import fit_surrogate, fitted_records

    m = shipped.meta
    rs = fitted_records(shipped, REPO)
    tried = {t: mod.candidates for t, mod in shipped.models.items()}
    kinds = sorted({str(c["model"]) for cs in tried.values() for c in cs})
    sets = sorted({str(c["feature_set"]) for cs in tried.values() for c in cs})
    refit = fit_surrogate(rs, folds=int(m["folds"]), seed=int(m["seed"]), drift_time=shipped.drift_time,
                          models=kinds, feature_sets=sets).surrogate
    for target, mod in shipped.models.items():
        new = refit.models[target]
        assert (new.kind, new.feature_set) == (mod.kind, mod.feature_set), target
        for k in ("kendall_tau", "spearman", "mae"):
            assert new.cv[k] == pytest.approx(mod.cv[k], abs=1e-9), (target, k)


def test_main_job_search_budget_200_on_the_shipped_surrogate(tmp_path: Path) -> None:
    """`analognas search --budget 200` as a user runs it: no --surrogate, default space."""
    (tmp_path / "surrogates").mkdir()
    shutil.copy(SHIPPED, tmp_path / "surrogates" / SHIPPED.name)
    script = Path(sys.executable).parent / "analognas"
    cmd = [str(script)] if script.exists() else [sys.executable, "-c", "from analognas.cli import main; main()"]
    proc = subprocess.run([*cmd, "search", "--budget", "200", "--json"], cwd=tmp_path, env=cli_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n_trials"] == 200 and out["best"] is not None
    run = json.loads((tmp_path / out["run_dir"] / "run.json").read_text())
    assert run["surrogate"]["path"] == f"surrogates/{SHIPPED.name}"
    assert 0.0 < out["best"]["predicted"]["accuracy"]["mean"] <= 100.0
