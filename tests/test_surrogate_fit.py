"""Fitting, cross-validation, persistence and prediction of surrogates.

The record files here are written by the tests: their targets are a known function of
the real space encoding plus seeded noise, so a good fit is checkable. They are test
input for the fitting code, not measurements (those come from `analognas collect`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analognas import OutputExistsError
from analognas.space import encode, feature_names, load_space
from analognas.surrogate import (
    MODEL_KINDS,
    TARGETS,
    RecordStore,
    SpaceMismatchError,
    SurrogateError,
    fidelity_agreement,
    fit_surrogate,
    fitted_records,
    load_records,
    load_surrogate,
    markdown_report,
    record_key,
    save_surrogate,
)

from .conftest import REPO

TIMES = [1.0, 3600.0, 86_400.0, 2_592_000.0]


def make_records(space_name: str, n: int, *, seed: int = 0, fidelity: str = "low", noise: float = 0.3,
                 sample_seed: int = 0) -> list[dict]:
    """Records whose targets are a known function of the encoding, plus seeded noise."""
    space = load_space(space_name)
    names = feature_names(space.max_stages)
    rng = np.random.default_rng(seed)
    sampler, specs, seen = np.random.default_rng(sample_seed), [], set()
    while len(specs) < n:  # distinct architectures, as a collection design gives
        spec = space.sample(sampler)[0]
        if spec.arch_id not in seen:
            seen.add(spec.arch_id)
            specs.append(spec)
    out = []
    for spec in specs:
        x = dict(zip(names, encode(spec, space.max_stages, space.input_shape, space.num_classes,
                                   space.constraints.tile_size)))
        acc_1d = 60 + 6 * x["log10_params"] - 0.2 * x["depth"] + rng.normal(0, noise)
        avm = 1 + 0.8 * x["n_stages"] - 0.5 * x["bottleneck_fraction"] + rng.normal(0, noise)
        spread = 0.4 + 0.05 * x["blocks_total"] + abs(rng.normal(0, noise / 4))
        mean = [acc_1d + 0.6 * avm, acc_1d + 0.3 * avm, acc_1d, acc_1d + 0.6 * avm - avm]
        fid_hash = f"h{fidelity}"
        out.append({
            "format": 1, "key": record_key(spec.arch_id, fid_hash, "rh", "dh", 0), "arch_id": spec.arch_id,
            "spec": spec.to_dict(), "space": {"name": space.name, "fingerprint": space.fingerprint},
            "dataset": {"name": "fashion-mnist"}, "fidelity": {"name": fidelity, "epochs": 4, "hwa_epochs": 1},
            "fidelity_name": fidelity, "fidelity_hash": fid_hash, "recipe": {"name": "hwa-v1"},
            "recipe_name": "hwa-v1", "recipe_hash": "rh", "drift": {"repeats": 3}, "drift_hash": "dh", "seed": 0,
            "fp32_accuracy": acc_1d + 2, "hwa_accuracy": acc_1d + 1,
            "accuracy": {"times": TIMES, "mean": mean, "std": [spread] * 4}, "avm": mean[0] - mean[3],
        })
    return out


def write_records(path: Path, records: list[dict]) -> Path:
    store = RecordStore(path)
    for r in records:
        store.append(r)
    return path


FAST = {"models": ("extra_trees",), "feature_sets": ("full",)}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("fit")
    path = write_records(folder / "r.jsonl", make_records("resnet_like", 80))
    result = fit_surrogate([path], folds=5, **FAST)
    saved = save_surrogate(result.surrogate, folder / "sur")
    return result, saved


def test_fitted_records_are_the_fit_s_own_even_after_the_file_grows(tmp_path: Path) -> None:
    path = write_records(tmp_path / "r.jsonl", make_records("resnet_like", 30))
    sur = fit_surrogate([path], folds=3, **FAST).surrogate
    later = make_records("resnet_like", 5, sample_seed=7)  # appended after the fit, as --verify does
    write_records(path, later)
    rs = fitted_records(sur)
    assert sorted(r["key"] for r in rs.records) == sur.meta["record_keys"] and len(rs.records) == 30
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[1:]) + "\n")  # one fitted record lost
    with pytest.raises(SurrogateError, match="1 of the 30 records the surrogate was fitted on are missing"):
        fitted_records(sur)


def test_cv_figures_are_high_on_a_learnable_function(fitted) -> None:
    result, _ = fitted
    sur = result.surrogate
    assert sur.targets == TARGETS and sur.n_records == 80 and sur.drift_time == 86_400.0
    assert sur.cv["accuracy"]["kendall_tau"] > 0.7
    assert sur.cv["accuracy"]["spearman"] > 0.85
    assert sur.cv["accuracy"]["mae"] < 1.0
    assert sur.cv["avm"]["kendall_tau"] > 0.5
    assert sur.cv["spread"]["kendall_tau"] > 0.6
    for t in TARGETS:
        cv = sur.cv[t]
        assert cv["folds"] == 5 and cv["n"] == 80 and len(cv["fold_kendall_tau"]) == 5
        assert 0.3 < cv["coverage_1sd"] < 0.95  # the calibrated std is of the right size
    assert result.messages == []


def test_saved_file_is_json_and_reloads_identically(fitted) -> None:
    result, path = fitted
    assert path.suffix == ".json"
    text = path.read_text()
    doc = json.loads(text)  # plain JSON: no pickle, nothing executable
    assert doc["format"] == "analognas.surrogate/1"
    assert doc["schema"]["names"] == list(feature_names(5))
    assert doc["schema"]["space_fingerprint"] == load_space("resnet_like").fingerprint
    assert len(doc["meta"]["record_keys"]) == 80 and doc["meta"]["records_hash"]
    assert "pickle" not in text and "joblib" not in text
    specs = load_space("resnet_like").sample(np.random.default_rng(5), 50)
    before = result.surrogate.predict(specs)
    again = load_surrogate(path)
    after = again.predict(specs)
    for t in TARGETS:
        assert np.array_equal(before[t].mean, after[t].mean)
        assert np.array_equal(before[t].std, after[t].std)
        assert before[t].mean.shape == (50,) and np.all(after[t].std > 0)
    X = again.encode(specs)
    assert np.array_equal(again.predict_features(X)["accuracy"].mean, after["accuracy"].mean)


@pytest.mark.slow
def test_every_model_kind_fits_and_refits_deterministically(tmp_path: Path) -> None:
    path = write_records(tmp_path / "r.jsonl", make_records("tiny", 24, noise=0.1))
    specs = load_space("tiny").sample(np.random.default_rng(1), 20)
    for kind in MODEL_KINDS:
        one = fit_surrogate([path], folds=2, models=(kind,))
        for t in TARGETS:  # every candidate's CV figures are kept, not only the winner's
            tried = one.surrogate.models[t].candidates
            assert {(c["model"], c["feature_set"]) for c in tried} == {(kind, "full"), (kind, "global")}
        saved = save_surrogate(one.surrogate, tmp_path / kind)
        a, b = one.surrogate.predict(specs), load_surrogate(saved).predict(specs)
        for t in TARGETS:
            assert np.array_equal(a[t].mean, b[t].mean) and np.array_equal(a[t].std, b[t].std), (kind, t)
            assert np.all(b[t].std > 0)


def test_the_best_candidate_by_cv_is_kept(tmp_path: Path) -> None:
    path = write_records(tmp_path / "r.jsonl", make_records("tiny", 24, noise=0.1))
    sur = fit_surrogate([path], folds=2, models=("gp", "gbm")).surrogate
    for t, m in sur.models.items():
        best = max(m.candidates, key=lambda c: (c["kendall_tau"] if c["kendall_tau"] is not None else -9, -c["mae"]))
        assert (m.kind, m.feature_set) == (best["model"], best["feature_set"]), t
        assert m.cv["kendall_tau"] == best["kendall_tau"] and m.cv["mae"] == best["mae"]


def test_tampered_file_is_refused(fitted, tmp_path: Path) -> None:
    _, path = fitted
    doc = json.loads(path.read_text())
    doc["data"]["y"]["accuracy"][0] += 5.0  # the refit no longer reproduces the saved predictions
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(SurrogateError, match="does not reproduce"):
        load_surrogate(bad)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(SurrogateError, match="not valid JSON"):
        load_surrogate(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(SurrogateError, match="not a surrogate file"):
        load_surrogate(tmp_path / "other.json")


def test_corrupted_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    recs = make_records("tiny", 20)
    path = write_records(tmp_path / "r.jsonl", recs[:10])
    with open(path, "ab") as fh:
        fh.write(b"this is not json\n")
        bad_spec = dict(recs[10], spec={"stem": 3}, key="x")
        fh.write((json.dumps(bad_spec) + "\n").encode())
    write_records(path, recs[11:])
    with open(path, "ab") as fh:
        fh.write(b'{"key": "torn", "accur')  # killed writer
    result = fit_surrogate([path], folds=3, **FAST)
    assert result.surrogate.n_records == 19
    assert len(result.records.bad_lines) == 3
    assert any("skipped 3 unreadable line(s)" in m for m in result.messages)
    assert result.surrogate.meta["bad_lines"] == 3


def test_mixed_spaces_and_fidelities_are_filtered_with_a_reason(tmp_path: Path) -> None:
    main = write_records(tmp_path / "main.jsonl", make_records("resnet_like", 30))
    other = write_records(tmp_path / "other.jsonl", make_records("tiny", 12))
    high = write_records(tmp_path / "high.jsonl", make_records("resnet_like", 6, fidelity="high", sample_seed=9))
    result = fit_surrogate([main, other, high], folds=3, **FAST)
    assert result.surrogate.space_name == "resnet_like" and result.surrogate.n_records == 30
    text = " | ".join(result.messages)
    assert "dropped 12 record(s) measured with space tiny" in text
    assert "dropped 6 record(s) measured with fidelity high" in text
    # explicit selection wins over the majority
    picked = load_records([main, other], space="tiny")
    assert len(picked.records) == 12 and any("from space resnet_like" in d for d in picked.dropped)
    # a tie cannot be resolved silently
    tie = write_records(tmp_path / "tie.jsonl", make_records("tiny", 30))
    with pytest.raises(SurrogateError, match="ambiguous"):
        fit_surrogate([main, tie], folds=3, **FAST)
    assert fit_surrogate([main, tie], folds=3, space=load_space("tiny"), **FAST).surrogate.space_name == "tiny"


def _reseeded(records: list[dict], seed: int, chip_seed: int, repeats: int = 3) -> list[dict]:
    """The same architectures measured with training seed `seed` on chips `chip_seed`."""
    out = []
    for r in records:
        drift_hash = f"d{chip_seed}r{repeats}"
        out.append({**r, "seed": seed, "drift": {"repeats": repeats, "seed": chip_seed}, "drift_hash": drift_hash,
                    "key": record_key(r["arch_id"], r["fidelity_hash"], "rh", drift_hash, seed)})
    return out


def test_training_seeds_share_a_cohort_and_count_once_each(tmp_path: Path) -> None:
    """collect programs seed s on chips s: the drift seed is no cohort setting, but one
    architecture and training seed measured twice (other chips) must not weigh double."""
    base = make_records("resnet_like", 30)
    first, second = _reseeded(base, 0, 0), _reseeded(base[:10], 1, 1)
    twice = _reseeded(base[:4], 1, 7)  # seed 1 again, on other chips: ignored, said
    other = _reseeded(base[:6], 0, 0, repeats=8)  # other drift settings: another cohort, said in words
    # an unusable first record (no 1-day target) never hides a later usable one
    (unusable,) = _reseeded(base[10:11], 1, 5)
    unusable["accuracy"] = {**unusable["accuracy"], "times": [1.0, 3600.0, 7200.0, 2592000.0]}
    path = write_records(tmp_path / "r.jsonl", first + second + twice + other + [unusable]
                         + _reseeded(base[10:11], 1, 1))
    rs = load_records([path], drift_time=86400.0)
    assert len(rs.records) == 41 and {r["seed"] for r in rs.records} == {0, 1}
    text = " | ".join(rs.dropped)
    assert "ignored 4 record(s) of an architecture and training seed measured earlier (other chips; kept" in text
    assert "dropped 1 record(s)" in text
    assert "dropped 6 record(s) measured with drift settings repeats 8 (not 3)" in text
    result = fit_surrogate([path], folds=3, **FAST)
    meta = result.surrogate.meta
    assert meta["seed_agreement"]["accuracy"]["n"] == 11 and meta["drift_seeds"] == [0, 1]
    assert "seed" not in meta["drift"]
    assert sorted(r["key"] for r in fitted_records(result.surrogate).records) == meta["record_keys"]


def test_fitted_records_keep_the_fit_s_cohort_when_another_grows_larger(tmp_path: Path) -> None:
    """A surrogate's own records are found by key before any majority is taken."""
    base = make_records("resnet_like", 30)
    path = write_records(tmp_path / "r.jsonl", _reseeded(base[:20], 0, 0, repeats=3))
    sur = fit_surrogate([path], folds=3, **FAST).surrogate
    write_records(path, _reseeded(base, 0, 0, repeats=8) + _reseeded(base, 1, 1, repeats=8))  # 60, a majority
    assert len(fitted_records(sur).records) == 20


def test_too_few_records_for_the_folds(tmp_path: Path) -> None:
    path = write_records(tmp_path / "r.jsonl", make_records("tiny", 4))
    with pytest.raises(SurrogateError, match="only 4 architecture"):
        fit_surrogate([path], folds=5, **FAST)
    with pytest.raises(SurrogateError, match="folds"):
        fit_surrogate([path], folds=1, **FAST)
    with pytest.raises(SurrogateError, match="no measurement at"):
        fit_surrogate([path], folds=2, drift_time=7.0, **FAST)
    with pytest.raises(SurrogateError, match="not found"):
        fit_surrogate([tmp_path / "none.jsonl"])


def test_space_mismatch_is_a_typed_error(fitted) -> None:
    _, path = fitted
    sur = load_surrogate(path)
    sur.check_space(load_space("resnet_like"))
    with pytest.raises(SpaceMismatchError, match="resnet_like"):
        sur.check_space(load_space("tiny"))


def test_save_refuses_to_overwrite(fitted, tmp_path: Path) -> None:
    result, _ = fitted
    target = save_surrogate(result.surrogate, tmp_path / "s.json")
    before = target.read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        save_surrogate(result.surrogate, target)
    assert target.read_bytes() == before
    save_surrogate(result.surrogate, target, force=True)


def test_report_and_agreement(fitted, tmp_path: Path) -> None:
    _, path = fitted
    md = markdown_report(load_surrogate(path))
    assert "| target | model | features | Kendall τ | Spearman ρ | MAE | n |" in md
    assert sum(line.startswith("|") for line in md.splitlines()) == 5  # header, rule, three targets
    low = write_records(tmp_path / "low.jsonl", make_records("tiny", 20, seed=1, fidelity="low"))
    high = write_records(tmp_path / "high.jsonl", make_records("tiny", 15, seed=2, fidelity="high", noise=0.05))
    agree = fidelity_agreement([low], [high])
    assert agree.n_common == 15 and agree.low["fidelity"] == "low" and agree.high["fidelity"] == "high"
    assert agree.metrics["accuracy"]["kendall_tau"] > 0.6
    assert set(agree.metrics) == {"accuracy", "avm", "spread", "fp32_accuracy"}


def test_no_torch_for_load_and_predict(fitted) -> None:
    _, path = fitted
    code = (
        "import sys, numpy as np\n"
        "import analognas.surrogate as s\n"
        "from analognas.space import load_space\n"
        f"sur = s.load_surrogate({str(path)!r})\n"
        "specs = load_space('resnet_like').sample(np.random.default_rng(0), 100)\n"
        "p = sur.predict(specs)\n"
        "assert p['accuracy'].mean.shape == (100,)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
