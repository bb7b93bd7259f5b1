"""benchmarks/chip_budget.py on tiny settings: the same chips read whole and on subsets."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def budget():
    return load_benchmark("chip_budget")


def test_pooled_chip_sd_is_the_root_mean_square_over_records(budget, tmp_path: Path) -> None:
    times = [1.0, 3600.0, 86400.0, 2592000.0]
    rows = [{"fidelity": "f", "times": times, "per_repeat": [[0.0] * 4, [h] * 4]} for h in (2.0, 4.0)]
    rows.append({"fidelity": "f", "times": times, "per_repeat": [[1.0] * 4]})  # one chip: no spread
    study = tmp_path / "s.jsonl"
    study.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (day, month) = budget.pooled_chip_sd(study)
    # two chips 0 and h have sample variance h^2 / 2
    assert day == {"fidelity": "f", "time": 86400.0, "records": 2, "chip_sd": math.sqrt((2.0 + 8.0) / 2)}
    assert month["time"] == 2592000.0 and budget.pooled_chip_sd(tmp_path / "none.jsonl") == []


def test_measure_reads_the_same_chips_whole_and_on_subsets(budget, tmp_path: Path, monkeypatch) -> None:
    from analognas.training import get_fidelity

    tiny = get_fidelity("smoke").with_overrides(train_size=256, test_size=200)
    monkeypatch.setattr("analognas.training.get_fidelity", lambda name: tiny)
    args = argparse.Namespace(fidelity="smoke", recipe="hwa-v2", archs="resnet20", seeds="0", repeats=3, images=50,
                              drift_seed=0, cache_dir=str(tmp_path / "c"))
    rows = budget.measure(args)
    assert [(r["time"], r["chips"], r["images_per_chip"], r["test_images"]) for r in rows] == \
        [(86400.0, 3, 50, 200), (2592000.0, 3, 50, 200)]
    for r in rows:
        m = r["subset_chips_at_equal_cpu"]
        assert m == pytest.approx(3 * r["cpu_s_per_chip_whole"] / r["cpu_s_per_chip_subset"])
        assert r["se_whole"] == pytest.approx(r["chip_sd"] / math.sqrt(3))
        assert r["se_subset_equal_cpu"] == pytest.approx(math.hypot(r["chip_sd"], r["subset_minus_whole_sd"])
                                                         / math.sqrt(m))
        if r["se_whole"] > 0:
            assert r["cpu_ratio_at_equal_se"] == pytest.approx((r["se_subset_equal_cpu"] / r["se_whole"]) ** 2)
        assert 0 < r["binomial_sd"] < 10
    # every chip reads the whole set when the subset is no smaller: the readings are equal
    whole = budget.measure(argparse.Namespace(**{**vars(args), "images": 200}))
    assert all(r["subset_minus_whole_sd"] == 0.0 and r["mean_subset"] == r["mean_whole"] for r in whole)
