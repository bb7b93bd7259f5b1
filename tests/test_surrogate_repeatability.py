"""The measurement ceiling: Kendall tau between single programmings of the same networks."""

from __future__ import annotations

import numpy as np

from analognas.surrogate._repeatability import repeatability

TIMES = [1.0, 3600.0, 86_400.0, 2_592_000.0]


def _records(per_repeat: np.ndarray) -> list[dict]:
    return [
        {"arch_id": f"a{i:03d}", "accuracy": {"times": TIMES, "per_repeat": per_repeat[i].tolist()}}
        for i in range(len(per_repeat))
    ]


def test_identical_programmings_agree_and_independent_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(20, 80, size=60)
    same = np.repeat(truth[:, None, None], 3, axis=1) * np.array([1.0, 0.98, 0.97, 0.9])  # (arch, repeat, time)
    rep = repeatability(_records(same), 86_400.0)
    assert rep["accuracy"]["kendall_tau"] == 1.0 and rep["accuracy"]["repeats"] == 3 and rep["accuracy"]["n"] == 60
    assert rep["avm"]["kendall_tau"] == 1.0  # AVM = 10 % of truth, same in every programming

    noise = rng.normal(0, 30, size=same.shape)
    rep = repeatability(_records(noise), 86_400.0)
    assert abs(rep["accuracy"]["kendall_tau"]) < 0.2 and abs(rep["avm"]["kendall_tau"]) < 0.2

    partly = same + rng.normal(0, 8, size=same.shape)
    tau = repeatability(_records(partly), 86_400.0)["accuracy"]["kendall_tau"]
    assert 0.3 < tau < 0.95


def test_too_few_repeats_or_architectures_give_no_figure() -> None:
    one = np.ones((10, 1, 4))
    assert repeatability(_records(one), 86_400.0)["accuracy"]["kendall_tau"] is None
    two_archs = np.random.default_rng(1).normal(size=(2, 3, 4))
    assert repeatability(_records(two_archs), 86_400.0)["accuracy"]["kendall_tau"] is None
    assert repeatability(_records(np.ones((5, 3, 4))), 3.0)["accuracy"]["kendall_tau"] is None  # time not measured


def _seeded_records(chips: np.ndarray, seed: int) -> list[dict]:
    """Records whose targets are read the way fits read them (mean, std, AVM per record)."""
    out = []
    for i, rows in enumerate(chips):  # rows: (repeat, time)
        mean = rows.mean(axis=0)
        out.append({"arch_id": f"a{i:03d}", "seed": seed, "avm": float(mean[0] - mean[-1]),
                    "accuracy": {"times": TIMES, "mean": mean.tolist(), "std": rows.std(axis=0, ddof=1).tolist(),
                                 "per_repeat": rows.tolist()}})
    return out


def test_noise_ceiling_falls_with_chip_and_training_noise() -> None:
    from analognas.surrogate._repeatability import noise_ceiling

    rng = np.random.default_rng(3)
    truth = np.linspace(40, 90, 40)
    clean = np.repeat(truth[:, None, None], 8, axis=1) * np.array([1.0, 0.99, 0.97, 0.9])  # (arch, chip, time)
    both = _seeded_records(clean, 0) + _seeded_records(clean, 1)
    ceiling = noise_ceiling(both, 86_400.0)["accuracy"]
    assert ceiling["kendall_tau"] == 1.0 and ceiling["includes_training"] and ceiling["training_sd"] == 0.0
    assert ceiling["n"] == 40 and ceiling["pairs"] == 40

    chips = clean + rng.normal(0, 12, size=clean.shape)
    noisy = noise_ceiling(_seeded_records(chips, 0), 86_400.0)["accuracy"]
    assert not noisy["includes_training"] and 0.6 < noisy["kendall_tau"] < 0.97  # one seed: chips only

    # seed 1 on other chips, and +-6 points off seed 0: a training part the chips do not explain
    other_chips = clean + rng.normal(0, 12, size=clean.shape)
    shifted = other_chips + rng.choice([-6.0, 6.0], size=(40, 1, 1))
    with_training = noise_ceiling(_seeded_records(chips, 0) + _seeded_records(shifted, 1), 86_400.0)["accuracy"]
    assert with_training["includes_training"] and 2.5 < with_training["training_sd"] < 6.0
    chips_only = noise_ceiling(_seeded_records(chips, 0) + _seeded_records(other_chips, 1), 86_400.0)["accuracy"]
    assert chips_only["training_sd"] < 2.5 and with_training["kendall_tau"] < chips_only["kendall_tau"]
    assert noisy["kendall_tau"] < chips_only["kendall_tau"]  # two seeds average the chips twice over

    few = noise_ceiling(_seeded_records(clean[:4], 0), 86_400.0)["accuracy"]
    assert few == {"kendall_tau": None, "n": 4}
