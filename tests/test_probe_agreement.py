"""The probe's own rank agreement with the measurement, as fits and reports record it."""

from __future__ import annotations

import numpy as np
import pytest

from analognas.analog import PROBE_ETA, PROBE_IMAGES, get_recipe, record_probe, weight_noise_sensitivity
from analognas.surrogate import fit_surrogate, markdown_report
from analognas.surrogate._probe_agreement import probe_agreement

from .test_analog_sensitivity import _trained_net
from .test_surrogate_fit import FAST, make_records, write_records


def _with_probe(records: list[dict], loss_increase: list[float | None]) -> list[dict]:
    for r, li in zip(records, loss_increase, strict=True):
        if li is not None:
            r["probe"] = {"eta": PROBE_ETA, "loss_increase": li}
    return records


def test_a_perfect_probe_scores_one_and_a_reversed_one_minus_one() -> None:
    recs = make_records("tiny", 8, seed=3)
    acc = [r["accuracy"]["mean"][2] for r in recs]
    avm = [r["avm"] for r in recs]
    # loss increase falls as 1-day accuracy rises: a perfect probe for accuracy
    good = probe_agreement(_with_probe(recs, [-a for a in acc]), 86400.0)
    assert good["n"] == 8 and good["eta"] == PROBE_ETA and good["accuracy"] == pytest.approx(1.0)
    # make_records sets FP32 = 1-day accuracy + 2: the baseline ranks 1-day accuracy perfectly too
    assert good["fp32_baseline"]["accuracy"] == pytest.approx(1.0)
    bad = probe_agreement(_with_probe(make_records("tiny", 8, seed=3), list(acc)), 86400.0)
    assert bad["accuracy"] == pytest.approx(-1.0)
    # ranking AVM: a larger loss increase should go with a larger AVM
    by_avm = probe_agreement(_with_probe(make_records("tiny", 8, seed=3), list(avm)), 86400.0)
    assert by_avm["avm"] == pytest.approx(1.0)


def test_records_without_a_probe_are_left_out_and_few_give_none() -> None:
    recs = _with_probe(make_records("tiny", 6, seed=4), [0.1, None, 0.3, None, None, None])
    got = probe_agreement(recs, 86400.0)
    assert got["n"] == 2 and got["accuracy"] is None and got["avm"] is None
    assert probe_agreement(make_records("tiny", 5), 86400.0)["n"] == 0  # v1 records: no probe at all


def test_malformed_probes_are_skipped_and_other_etas_do_not_pool() -> None:
    recs = make_records("tiny", 9, seed=6)
    bad = [0.1, [0.1], "x", {"eta": [0.03], "loss_increase": 0.1}, {"eta": "0.03", "loss_increase": 0.1},
           {"eta": PROBE_ETA, "loss_increase": True}, {"eta": PROBE_ETA, "loss_increase": float("nan")}]
    for r, p in zip(recs, bad):
        r["probe"] = p
    acc = [r["accuracy"]["mean"][2] for r in recs]
    recs[7]["probe"] = {"eta": 0.1, "loss_increase": -acc[7]}  # another noise level: not pooled
    recs[8]["probe"] = {"eta": 0.1, "loss_increase": -acc[8]}
    got = probe_agreement(recs, 86400.0)
    assert got["n"] == 2 and got["eta"] == 0.1  # only the two well-formed probes count
    recs.extend(_with_probe(make_records("tiny", 3, seed=7, sample_seed=7), [1.0, 2.0, 3.0]))
    assert probe_agreement(recs, 86400.0)["eta"] == PROBE_ETA  # the most common eta wins


def test_fit_meta_and_markdown_carry_the_probe_figures(tmp_path) -> None:
    recs = make_records("tiny", 30, seed=5)
    acc = [r["accuracy"]["mean"][2] for r in recs]
    rng = np.random.default_rng(0)
    _with_probe(recs, [-a + rng.normal(0, 1.0) for a in acc])
    for r in recs:  # three programmings around each mean
        r["accuracy"]["per_repeat"] = [[m + d for m in r["accuracy"]["mean"]] for d in (-1.0, 0.0, 1.0)]
    sur = fit_surrogate([write_records(tmp_path / "r.jsonl", recs)], folds=3, **FAST).surrogate
    meta = sur.meta["probe_agreement"]
    assert meta["n"] == 30 and 0.5 < meta["accuracy"] < 1.0
    text = markdown_report(sur)
    assert "Weight-noise probe" in text and f"{meta['accuracy']:.3f}" in text
    ceiling = sur.meta["noise_ceiling"]["accuracy"]  # measured on every fit (one seed: chips only)
    assert ceiling["n"] == 30 and not ceiling["includes_training"] and 0.5 < ceiling["kendall_tau"] <= 1.0
    assert f"Noise ceiling: a perfect predictor of each architecture's expected value would reach Kendall τ " \
           f"{ceiling['kendall_tau']:.3f}" in text and "chips only" in text


def test_record_probe_is_the_recorded_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from analognas.analog import _sensitivity

    assert PROBE_IMAGES == 2000
    monkeypatch.setattr(_sensitivity, "PROBE_IMAGES", 150)  # the first images only, of the 400 given
    net, x, y = _trained_net()
    got = record_probe(net, x, y, get_recipe("hwa-v2"), seed=3)
    same = weight_noise_sensitivity(net, x[:150], y[:150], get_recipe("hwa-v2"), eta=PROBE_ETA, seed=3)
    assert got["eta"] == PROBE_ETA and got["images"] == 150 and got["seconds"] >= 0
    assert got["loss_increase"] == same.loss_increase and got["accuracy_drop"] == same.accuracy_drop


def test_seed_agreement_pairs_two_seeds_of_the_same_architectures() -> None:
    from analognas.surrogate._repeatability import seed_agreement

    first = make_records("tiny", 6, seed=8)
    second = make_records("tiny", 6, seed=8)
    for r in second:  # the second seed: every accuracy shifted and stretched, the ranking kept
        r["seed"] = 1
        r["accuracy"]["mean"] = [2 * m - 5 for m in r["accuracy"]["mean"]]
        r["avm"] = -r["avm"]  # and the AVM ranking reversed
    got = seed_agreement(first + second, 86400.0)
    assert got["accuracy"] == {"kendall_tau": pytest.approx(1.0), "n": 6, "seeds": [0, 1]}
    assert got["avm"]["kendall_tau"] == pytest.approx(-1.0)
    assert seed_agreement(first + second[:2], 86400.0)["accuracy"] == {"kendall_tau": None, "n": 2,
                                                                       "seeds": [0, 1]}
    assert seed_agreement(first, 86400.0)["accuracy"] == {"kendall_tau": None, "n": 0, "seeds": None}


def test_seed_agreement_uses_one_pair_of_seeds_and_no_bool_seeds() -> None:
    """Pairs (0, 1) and (0, 2) are not alike: only the pair most architectures have counts."""
    from analognas.surrogate._repeatability import seed_agreement

    first = make_records("tiny", 6, seed=8)
    second = make_records("tiny", 6, seed=8)
    for r in second:
        r["seed"] = 1
    third = make_records("tiny", 6, seed=8)[:4]
    for r in third:  # seed 2 of four architectures, ranking reversed: must not be pooled in
        r["seed"] = 2
        r["accuracy"]["mean"] = [-m for m in r["accuracy"]["mean"]]
    # architectures 0 and 1 lack seed 0: their lowest two seeds are (1, 2), which must not be pooled
    got = seed_agreement(first[2:] + second + third, 86400.0)["accuracy"]
    assert got == {"kendall_tau": pytest.approx(1.0), "n": 4, "seeds": [0, 1]}
    # most architectures have seeds 1 and 2, three have (0, 1) with seed 0 reversed: the
    # pair is (1, 2), not the lowest one
    zero = make_records("tiny", 6, seed=8)[:3]
    for r in zero:
        r["accuracy"]["mean"] = [-m for m in r["accuracy"]["mean"]]
    two = make_records("tiny", 6, seed=8)
    for r in two:
        r["seed"] = 2
    got = seed_agreement(zero + second + two, 86400.0)["accuracy"]
    assert got == {"kendall_tau": pytest.approx(1.0), "n": 6, "seeds": [1, 2]}
    flagged = make_records("tiny", 6, seed=8)
    for r in flagged:
        r["seed"] = True  # a bool is not a training seed (True == 1 in Python)
    assert seed_agreement(first + flagged, 86400.0)["accuracy"]["n"] == 0
