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
