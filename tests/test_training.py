"""Training loop, fidelity, checkpoint cache and the evaluate/compare/train commands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from analognas import CheckpointError, ConfigError, TrainingDivergedError
from analognas.cli import app
from analognas.data import Split
from analognas.space import ArchSpec, StageSpec
from analognas.training import (
    FIDELITIES,
    CheckpointKey,
    CheckpointStore,
    Fidelity,
    get_fidelity,
    parse_time,
    train_model,
)

SMALL = ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1, 2, "bottleneck")), name="small")
runner = CliRunner()


def test_parse_time_units_and_rejections() -> None:
    assert parse_time("1e5") == 1e5
    assert parse_time("1h") == 3600 and parse_time("1d") == 86400 and parse_time("1mo") == 2_592_000
    for bad in ("0", "-5", "nan", "inf", "abc", "", "1x"):
        with pytest.raises(ConfigError):
            parse_time(bad)


def test_fidelity_hash_ignores_name_and_overrides_rename() -> None:
    low = get_fidelity("low")
    assert low.with_overrides(epochs=None) is low
    custom = low.with_overrides(epochs=9)
    assert custom.name == "low+custom" and custom.hash() != low.hash()
    assert Fidelity(**{**low.to_dict(), "name": "x"}).hash() == low.hash()
    with pytest.raises(ConfigError):
        low.with_overrides(train_size=0)
    with pytest.raises(ConfigError, match="unknown fidelity"):
        get_fidelity("ultra")
    assert set(FIDELITIES) >= {"smoke", "low", "medium", "high"}


def test_nan_loss_stops_with_epoch_and_step() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.randn(64, 1, 2, 2)
    x[40:] = float("nan")  # the batch holding these rows poisons the loss
    split = Split(x, torch.randint(0, 2, (64,)))
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, step \d+ of 4"):
        train_model(model, split, epochs=2, lr=0.1, batch_size=16, momentum=0.9, weight_decay=0.0, seed=0)


def test_training_is_seeded_and_learns() -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 1, 4, 4)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    split = Split(x, y)

    def run() -> tuple[float, torch.Tensor]:
        with torch.random.fork_rng():
            torch.manual_seed(1)
            model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
        res = train_model(model, split, epochs=5, lr=0.5, batch_size=32, momentum=0.9, weight_decay=0, seed=3)
        return res.final_loss, model[1].weight.detach().clone()

    (l1, w1), (l2, w2) = run(), run()
    assert torch.equal(w1, w2) and l1 == l2
    assert l1 < math.log(2)


def test_store_round_trip_and_corruption(tmp_path: Path) -> None:
    from analognas.models import build_model

    store = CheckpointStore(tmp_path)
    key = CheckpointKey(SMALL.arch_id, "fashion-mnist", "fp32", "none", "abc", 0)
    assert store.load(key, SMALL) is None
    model = build_model(SMALL, (1, 28, 28), 10)
    store.save(key, model.state_dict(), {"arch_id": SMALL.arch_id, "metrics": {"test_accuracy": 50.0}})
    state, meta = store.load(key, SMALL)
    assert meta["metrics"]["test_accuracy"] == 50.0 and "torch" in meta["versions"]
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())

    other = ArchSpec(8, 3, (StageSpec(8, 2),))
    with pytest.raises(CheckpointError, match="not"):
        store.load(key, other)  # a checkpoint never loads into another architecture

    weights, _ = store.paths(key)
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        store.load(key, SMALL)


def test_store_never_unpickles_objects(tmp_path: Path) -> None:
    import pickle

    store = CheckpointStore(tmp_path)
    key = CheckpointKey(SMALL.arch_id, "d", "fp32", "none", "f", 0)
    weights, meta = store.paths(key)
    weights.parent.mkdir(parents=True)

    class Evil:
        def __reduce__(self):
            return (Path(tmp_path / "pwned").touch, ())

    torch.save({"w": Evil()}, weights, pickle_module=pickle)
    meta.write_text(json.dumps({"arch_id": SMALL.arch_id}))
    with pytest.raises(CheckpointError):
        store.load(key, SMALL)
    assert not (tmp_path / "pwned").exists()


# ----------------------------------------------------------------------------- CLI

TINY = ["--train-size", "300", "--test-size", "200", "--epochs", "1", "--hwa-epochs", "1", "--batch-size", "50"]


def _one_line_error(res, needle: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--drift", "0"], "drift time"),
        (["--drift", "-3"], "drift time"),
        (["--drift", "nan"], "drift time"),
        (["--drift", "soon"], "not a number"),
        (["--repeats", "0"], "repeats"),
        (["--dataset", "imagenet"], "imagenet"),
        (["--fidelity", "ultra"], "unknown fidelity"),
    ],
)
def test_evaluate_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    res = runner.invoke(app, ["evaluate", SMALL.to_json(), "--cache-dir", str(tmp_path), *TINY, *args])
    _one_line_error(res, needle)
    assert list(tmp_path.iterdir()) == []


def test_missing_dataset_files_say_how_to_get_them(tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "T500", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c")])
    _one_line_error(res, "dataset-fashion-mnist")
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_evaluate_trains_once_then_reuses_the_cache(tmp_path: Path) -> None:
    args = ["evaluate", SMALL.to_json(), "--cache-dir", str(tmp_path), *TINY, "--repeats", "2", "--drift", "1d"]
    first = runner.invoke(app, [*args, "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert set(data["modes"]) == {"fp32", "hwa", "direct"}
    for mode in ("fp32", "hwa", "direct"):
        cell = data["modes"][mode]["86400"]
        assert 0 <= cell["mean"] <= 100 and cell["std"] >= 0
    assert data["cached"] == {"fp32": False, "hwa": False}
    assert set(data["avm"]) == {"hwa", "direct"}
    assert data["recipe_hash"] and data["fidelity"]["train_size"] == 300

    again = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert again["cached"] == {"fp32": True, "hwa": True}  # nothing retrained
    assert again["modes"]["fp32"] == data["modes"]["fp32"]
    assert again["modes"]["hwa"] == data["modes"]["hwa"]  # same seed, same programmings

    # a truncated checkpoint is refused with one line, and left as it was
    weights = next(tmp_path.rglob("hwa-*.pt"))
    weights.write_bytes(weights.read_bytes()[:100])
    res = runner.invoke(app, args)
    _one_line_error(res, "corrupt or truncated")
    assert weights.stat().st_size == 100


@pytest.mark.slow
def test_compare_writes_table_plot_and_data(tmp_path: Path) -> None:
    other = ArchSpec(8, 3, (StageSpec(8, 1),), name="other")
    out = tmp_path / "cmp.html"
    res = runner.invoke(
        app,
        ["compare", SMALL.to_json(), other.to_json(), "--out", str(out), "--cache-dir", str(tmp_path / "c"),
         *TINY, "--repeats", "2", "--json"],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert [r["arch_id"] for r in rows] == [SMALL.arch_id, other.arch_id]
    assert {"hwa 1 s", "hwa 1 month", "direct 1 day", "avm", "params", "tiles", "train_seconds"} <= set(rows[0])
    assert "Plotly.newPlot" in out.read_text()
    before = out.read_text()
    again = runner.invoke(app, ["compare", SMALL.to_json(), "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                                *TINY])
    _one_line_error(again, "already exists")
    assert out.read_text() == before


def test_paired_difference_interval() -> None:
    from analognas.training._compare import paired_difference

    d = paired_difference([80.0, 82.0, 81.0, 85.0], [79.0, 80.0, 81.0, 82.0])
    assert d["n"] == 4 and d["mean"] == pytest.approx(1.5)
    # diffs 1, 2, 0, 3: std 1.291, t(0.975, 3) = 3.182 -> half width 2.054
    assert d["ci95"] == pytest.approx([1.5 - 2.0540, 1.5 + 2.0540], abs=1e-3)
    assert paired_difference([1.0], [0.5])["ci95"] is None


@pytest.mark.slow
def test_compare_two_seeds_pairs_against_the_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = ArchSpec(8, 3, (StageSpec(8, 1),), name="other")
    out = tmp_path / "cmp.html"
    res = runner.invoke(
        app,
        ["compare", SMALL.to_json(), other.to_json(), "--out", str(out), "--cache-dir", str(tmp_path / "c"),
         *TINY, "--repeats", "2", "--seeds", "2", "--baseline", "other", "--json"],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["rows"][0]["seeds"] == [0, 1] and set(data["rows"][0]["fp32"]) == {"mean", "std"}
    (diff,) = data["differences"]
    assert diff["arch"] == "small" and diff["baseline"] == "other"
    day = diff["modes"]["hwa"]["1 day"]
    assert day["n"] == 4 and len(day["per_seed"]) == 2 and day["ci95"][0] <= day["mean"] <= day["ci95"][1]
    # the architecture-level interval is over the two per-seed means: t(1 dof) = 12.706
    between, (d0, d1) = day["between_seeds"], day["per_seed"]
    assert between["n"] == 2 and between["mean"] == pytest.approx((d0 + d1) / 2) == pytest.approx(day["mean"])
    half = 12.7062 * abs(d0 - d1) / 2
    assert between["ci95"] == pytest.approx([between["mean"] - half, between["mean"] + half], abs=1e-3)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert len(saved["evaluations"]) == 4 and saved["baseline"] == "other"
    # each training seed gets its own chips, and seed 1's row is what `evaluate --seed 1` measures
    assert [e["drift"]["seed"] for e in saved["evaluations"]] == [0, 1, 0, 1]
    res = runner.invoke(app, ["evaluate", SMALL.to_json(), "--cache-dir", str(tmp_path / "c"), *TINY,
                              "--repeats", "2", "--seed", "1", "--drift", "1d", "--json"])
    assert res.exit_code == 0, res.output
    (alone,) = (v["mean"] for v in json.loads(res.stdout)["modes"]["hwa"].values())
    small1 = next(e for e in saved["evaluations"] if e["name"] == "small" and e["seed"] == 1)
    k1 = small1["curves"]["hwa"]["times"].index(86400.0)
    assert alone == pytest.approx(small1["curves"]["hwa"]["mean"][k1])
    # the pooled row equals the mean over every (seed, programming) sample
    hwa = [e["curves"]["hwa"] for e in saved["evaluations"] if e["name"] == "small"]
    k = hwa[0]["times"].index(86400.0)
    pooled = [r[k] for c in hwa for r in c["per_repeat"]]
    assert data["rows"][0]["hwa 1 day"]["mean"] == pytest.approx(sum(pooled) / 4)
    # the table shows the between-seed interval beside the pooled one (cached: no training)
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps cells to the terminal width
    res = runner.invoke(
        app,
        ["compare", SMALL.to_json(), other.to_json(), "--out", str(tmp_path / "again.html"), "--cache-dir",
         str(tmp_path / "c"), *TINY, "--repeats", "2", "--seeds", "2", "--baseline", "other", "-q"],
    )
    assert res.exit_code == 0, res.output
    assert "hwa, over 2 training seeds" in res.output and f"{between['ci95'][1]:+.2f}" in res.output


@pytest.mark.parametrize(
    "args, needle",
    [(["--baseline", "resnet32"], "is not one of the compared"), (["--seeds", "0"], "--seeds must be between")],
)
def test_compare_bad_seeds_or_baseline(tmp_path: Path, args: list[str], needle: str) -> None:
    res = runner.invoke(app, ["compare", SMALL.to_json(), "--cache-dir", str(tmp_path / "c"), *TINY, *args])
    _one_line_error(res, needle)
    assert not (tmp_path / "c").exists()
