"""benchmarks/fidelity_study.py end to end on tiny fidelities: rows, probe, resume, report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from analognas.space import ArchSpec, StageSpec
from analognas.training import get_fidelity
from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def study():
    return load_benchmark("fidelity_study")


def test_measure_resumes_and_reports(study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    tiny = get_fidelity("quick").with_overrides(train_size=300, test_size=200, epochs=1, batch_size=50)
    monkeypatch.setattr(study, "candidates", lambda: {"standard": tiny, "tinier": tiny.with_overrides(train_size=200)})
    specs = [ArchSpec(8, 3, (StageSpec(w, 1),), name=f"w{w}") for w in (4, 8, 12)]
    monkeypatch.setattr(study, "panel", lambda n: specs[:n])
    monkeypatch.setattr(study, "PROBE_IMAGES", 100)
    args = argparse.Namespace(out=str(tmp_path / "s.jsonl"), cache_dir=str(tmp_path / "c"), only=None,
                              repeats=2, device="cpu", panel=3, seeds="0,1")
    study.measure(args)
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 3 and {r["fidelity"] for r in rows} == {"standard", "tinier"}
    r = rows[0]
    assert len(r["per_repeat"]) == 2 and r["times"] == [1.0, 3600.0, 86400.0, 2592000.0]
    assert set(r["probe"]) == {"0.03", "0.1", "seconds"} and r["probe"]["0.03"]["images"] == 100
    assert r["probe"]["0.1"]["loss_increase"] > r["probe"]["0.03"]["loss_increase"]
    assert sum(r["train_seconds"].values()) > 0 and r["eval_seconds"] > 0
    # resumed: nothing is measured twice
    study.measure(args)
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 12
    capsys.readouterr()
    study.report(args)
    out = capsys.readouterr().out
    assert "| standard | 3 | 1.000 | 1.000 |" in out  # the reference against itself
    assert "choice: none yet (no candidate has 10 or more" in out  # three networks rank nothing
    assert "| tinier | 1 day | 3 |" in out and "| standard | 1 month | 3 |" in out  # noise decomposition
    assert "standard: training " in out and "% of training plus drift wall time (6 rows)" in out
    assert "| tinier | 3 |" in out and "| probe eta 0.1 | tinier | standard | 3 |" in out
    assert "| FP32 accuracy | tinier | tinier | 3 |" in out and "| parameters | standard | standard | 3 |" in out


def test_unknown_only_is_one_line_exit_2(study, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("sys.argv", ["fidelity_study.py", "--only", "nope"])
    assert study.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--only 'nope'" in err


def test_choice_is_the_cheapest_candidate_within_the_slack(study) -> None:
    got = study.choose({"a": (0.90, 1000.0, 20), "b": (0.87, 400.0, 20), "c": (0.70, 100.0, 20)})
    assert got.startswith("choice: b (") and "the best candidate, a, reaches 0.900" in got
    assert study.choose({"a": (0.90, 1000.0, 20), "b": (0.80, 400.0, 20)}).startswith("choice: a (")
    assert study.choose({"a": (float("nan"), 1.0, 0)}).startswith("choice: none yet")
    assert study.choose({"a": (0.99, 1.0, 2)}).startswith("choice: none yet")  # two networks rank nothing


def test_choice_compares_candidates_on_the_networks_they_all_share(study) -> None:
    times = [1.0, 3600.0, 86400.0, 2592000.0]

    def row(level: float, cpu: float = 100.0) -> dict:
        return {"times": times, "mean": [level] * 4, "per_repeat": [[level] * 4], "cpu_seconds": cpu}

    ref = {f"n{i}": {0: row(float(i))} for i in range(14)}
    # "slow" ranks the first 12 networks as the reference does and costs 300 CPU-s there, but
    # it also measured n12 and n13 (reversed, and dear): neither counts, since "fast" lacks them
    slow = {f"n{i}": {0: row(float(i), 300.0)} for i in range(12)}
    slow |= {"n12": {0: row(99.0, 5000.0)}, "n13": {0: row(-99.0, 5000.0)}}
    # "fast" swaps the first two networks and costs 100
    fast = {f"n{i}": {0: row(float(i if i > 1 else 1 - i))} for i in range(12)}
    few = {f"n{i}": {0: row(float(i), 1.0)} for i in range(4)}  # cheapest, but on 4 networks
    scores, pending = study.choice_scores({"standard": ref, "slow": slow, "fast": fast, "few": few})
    assert pending == {"few": 4}
    assert scores["slow"][0] == pytest.approx(1.0) and scores["slow"][1:] == (300.0, 12)
    assert scores["fast"][1:] == (100.0, 12) and scores["fast"][0] < 1.0
    got = study.choose(scores, pending)
    assert got.startswith("choice: fast (") and "over 12 architectures" in got
    assert got.endswith("not ranked yet: few (4 of 10 architectures))")
    # two candidates whose shared sets overlap on too few networks: the smaller one waits
    early = {f"n{i}": {0: row(float(i))} for i in range(11)}
    late = {f"n{i}": {0: row(float(i))} for i in range(4, 14)}
    scores, pending = study.choice_scores({"standard": ref, "early": early, "late": late})
    assert pending == {"late": 10} and scores["early"][2] == 11
    none_yet = study.choose(*study.choice_scores({"standard": ref, "few": few}))
    assert none_yet.startswith("choice: none yet") and "few (4 of 10 architectures)" in none_yet


def test_choice_says_when_parameter_count_alone_ranks_as_well(study) -> None:
    times = [1.0, 3600.0, 86400.0, 2592000.0]

    def row(level: float, params: int) -> dict:
        return {"times": times, "mean": [level] * 4, "per_repeat": [[level] * 4], "cpu_seconds": 10.0,
                "params": params}

    # the reference's accuracy grows with size; "cheap" gets the two largest networks wrong
    ref = {f"n{i}": {0: row(float(i), 1000 * (i + 1))} for i in range(12)}
    cheap = {f"n{i}": {0: row(float(i) if i < 10 else -float(i), 1000 * (i + 1))} for i in range(12)}
    by = {"standard": ref, "cheap": cheap}
    assert study.size_baseline(by) == pytest.approx(1.0)
    got = study.choose(*study.choice_scores(by), study.size_baseline(by))
    assert got.startswith("choice: cheap (") and "parameter count alone ranks the same networks at 1.000" in got
    # a fidelity that ranks the reference better than size does gets no warning
    odd = {f"n{i}": {0: row(float(i), 1000 * (12 - i) if i < 3 else 1000 * (i + 1))} for i in range(12)}
    good = {"standard": odd, "exact": odd}
    assert study.size_baseline(good) < 1.0
    assert "Warning" not in study.choose(*study.choice_scores(good), study.size_baseline(good))
    assert study.size_baseline({"standard": ref, "few": {"n0": ref["n0"]}}) is None


def test_tau_differences_are_paired_over_the_networks_both_share(study) -> None:
    times = [1.0, 3600.0, 86400.0, 2592000.0]

    def row(level: float, params: int = 1) -> dict:
        return {"times": times, "mean": [level] * 4, "per_repeat": [[level] * 4], "params": params}

    # size ranks the reference backwards on every other pair; "exact" ranks it perfectly
    ref = {f"n{i:02d}": {0: row(float(i), 1000 * (i + (2 if i % 2 == 0 else -2)))} for i in range(16)}
    exact = {a: {0: row(d[0]["mean"][0])} for a, d in ref.items()}
    noisy = {a: {0: row(d[0]["mean"][0] + (5.0 if int(a[1:]) % 3 == 0 else 0.0))} for a, d in ref.items()}
    few = {a: exact[a] for a in list(exact)[:4]}
    rows = study.tau_differences({"standard": ref, "exact": exact, "noisy": noisy, "few": few})
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert set(got) == {("exact", "noisy"), ("exact", "parameters"), ("noisy", "parameters")}  # few: 4 networks
    n, diff, lo, hi = got[("exact", "parameters")]
    size_tau = study._tau([ref[a][0]["params"] for a in sorted(ref)], [ref[a][0]["mean"][0] for a in sorted(ref)])
    assert n == 16 and diff == pytest.approx(1.0 - size_tau) and diff > 0
    assert lo <= diff <= hi and lo > 0  # a perfect ranking against a poor one: the interval excludes 0
    n, diff, lo, hi = got[("exact", "noisy")]
    assert diff > 0 and lo >= 0 and lo <= diff <= hi  # noisy is never better on any resample
    assert study.tau_differences({"standard": ref, "exact": exact, "noisy": noisy, "few": few}) == rows  # seeded
    assert study.tau_differences({"exact": exact}) == []
    # pairs are taken on the networks both share: a candidate missing half of them is
    # compared on the rest, and ``within`` restricts every pair further
    half_panel = {a: d for a, d in noisy.items() if int(a[1:]) < 8}
    rows2 = study.tau_differences({"standard": ref, "exact": exact, "part": half_panel})
    n2 = {(r[0], r[1]): r[2] for r in rows2}
    assert n2[("exact", "part")] == 8 and n2[("exact", "parameters")] == 16 and n2[("part", "parameters")] == 8
    within = {f"n{i:02d}" for i in range(6)}
    assert {r[2] for r in study.tau_differences({"standard": ref, "exact": exact}, within)} == {6}
    # the choice line says which way the intervals separate the pick from each rival
    scores = {"exact": (1.0, 500.0, 16), "noisy": (0.8, 100.0, 16)}
    assert study.choose(scores, differences=rows).endswith("say it ranks better than noisy, parameters")
    cheap = {"exact": (1.0, 500.0, 16), "noisy": (0.98, 100.0, 16)}  # noisy is picked: it is second in its rows
    assert study.choose(cheap, differences=rows).endswith("say worse than exact")
    blurred = [(a, b, k, d, -0.1, 0.3) for a, b, k, d, _, _ in rows]
    assert study.choose(scores, differences=blurred).endswith(
        "No paired interval tells it apart from noisy, parameters: this panel cannot order them yet")
    unranked = {"exact": (1.0, 500.0, 16)}  # noisy not ranked: not a rival, and no row names it
    assert study.choose(unranked, differences=rows).endswith("say it ranks better than parameters")
    assert "paired" not in study.choose(scores)


def test_level_gaps_are_seed_mean_differences_on_shared_networks(study) -> None:
    times = [1.0, 3600.0, 86400.0, 2592000.0]

    def row(level: float) -> dict:
        return {"times": times, "mean": [level] * 4}

    ref = {"a": {0: row(90.0), 1: row(92.0)}, "b": {0: row(80.0)}, "c": {0: row(70.0)}}
    cand = {"a": {0: row(85.0)}, "b": {0: row(79.0), 1: row(77.0)}, "x": {0: row(10.0)}}
    assert study.level_gaps({"standard": ref, "cand": cand}) == {"cand": (2, -2.0, -6.0, -4.0)}
    assert study.level_gaps({"standard": ref}) == {}


def test_tau_cells_carry_a_reproducible_bootstrap_interval(study) -> None:
    a = list(range(20))
    b = [v + (3 if v % 4 == 0 else 0) for v in a]  # a few swaps: tau below 1
    cell = study._cell(a, b)
    tau, interval = cell.split(" ", 1)
    lo, hi = (float(v) for v in interval.strip("[]").split(", "))
    assert lo <= float(tau) <= hi <= 1.0 and lo < hi
    assert study._cell(a, b) == cell  # seeded
    assert study._cell(a[:4], a[:4]) == "1.000"  # too few pairs for an interval
    # two records per architecture are drawn together: the interval widens, the tau does not move
    groups = [f"g{v // 2}" for v in a]
    grouped = study._cell(a, b, groups=groups)
    g_lo, g_hi = (float(v) for v in grouped.split(" ", 1)[1].strip("[]").split(", "))
    assert grouped.split(" ")[0] == tau and g_hi - g_lo > hi - lo
    assert study._cell(a[:8], b[:8], groups=groups[:8]) == study._cell(a[:8], b[:8]).split(" ")[0]  # 4 units


def test_noise_decomposition_separates_chips_from_training(study, capsys) -> None:
    """Two chips at level +-h per record, h differing between records (so a mean of the
    SEs and their root mean square differ); seed 1 sits 6 points above seed 0 on one
    architecture, level on the others. Expected figures are computed by hand."""
    times = [1.0, 3600.0, 86400.0, 2592000.0]

    def row(level: float, h: float) -> dict:
        return {"times": times, "mean": [level] * 4, "per_repeat": [[level - h] * 4, [level + h] * 4]}

    hs = {0: (1.0, 3.0), 1: (1.0, 1.0), 2: (2.0, 1.0)}  # architecture -> chip half-spread per seed
    by = {"f": {f"a{i}": {0: row(60.0 + 10 * i, hs[i][0]), 1: row(60.0 + 10 * i + (6.0 if i == 0 else 0.0), hs[i][1])}
                for i in range(3)}, "g": {"a0": {0: row(1.0, 1.0)}}}
    study.noise_report(by)
    out = capsys.readouterr().out
    # a 2-chip record at +-h has sample variance 2 h^2, so its mean's variance is h^2
    rms_se = (sum(h * h for pair in hs.values() for h in pair) / 6) ** 0.5
    sd = 6.0 / 3 ** 0.5 / 2 ** 0.5  # std of (6, 0, 0) is 6/sqrt(3); one seed's share is 1/sqrt(2) of it
    training = (sd**2 - rms_se**2) ** 0.5
    spread = float(np.std([63.0, 70.0, 80.0], ddof=1))
    assert f"| f | 1 day | 3 | {rms_se:.2f} | {sd:.2f} | {training:.2f} | {spread:.2f} |" in out
    assert "| g |" not in out  # one seed: nothing to decompose


def test_select_splits_the_panel_by_name_or_id_and_orders_it_by_recorded_cost(study, monkeypatch, capsys) -> None:
    specs = [ArchSpec(8, 3, (StageSpec(w, 1),), name=f"w{w}") for w in (4, 8, 12, 16)]
    a, b, c, d = specs
    rows = [
        # split rows count their full training and drift time, cached or not
        {"arch_id": a.arch_id, "fidelity": "quick", "cpu_seconds": 5.0, "cached": {"fp32": True},
         "train_seconds": {"fp32": 300.0, "hwa": 100.0}, "eval_seconds": 100.0},
        # an older row shortened by a cached checkpoint says nothing about cost: ignored
        {"arch_id": b.arch_id, "fidelity": "quick", "cpu_seconds": 1.0, "cached": {"fp32": True}},
        {"arch_id": b.arch_id, "fidelity": "quick-2ep", "cpu_seconds": 900.0, "cached": {}},
        {"arch_id": c.arch_id, "fidelity": "quick", "cpu_seconds": 200.0, "cached": {}},
        {"arch_id": c.arch_id, "fidelity": "standard", "cpu_seconds": 9000.0, "cached": {}},  # quick wins
    ]
    assert [s.label for s in study.select(specs, None, "cheap", rows)] == ["w12", "w4", "w8", "w16"]
    assert study.select(specs, None, "panel", rows) == specs
    assert study.select(specs, f"w16,{a.arch_id}", "panel", rows) == [a, d]  # the panel's order
    with pytest.raises(study.PanelError, match="--archs: nope not in the panel"):
        study.select(specs, "w4,nope", "panel", rows)
    monkeypatch.setattr(study, "panel", lambda n: specs)
    monkeypatch.setattr("sys.argv", ["fidelity_study.py", "--archs", "nope", "--out", "/nonexistent/x.jsonl"])
    assert study.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --archs: nope")


def test_noise_ceiling_is_one_without_noise_and_rises_with_seeds_and_chips(study, capsys) -> None:
    """Noise-free records rank perfectly; noisy ones (chips differing by 8 points, seeds
    by 1.5) cap the tau a perfect predictor reaches, less so with more seeds or chips."""
    times = [1.0, 3600.0, 86400.0, 2592000.0]
    rng = np.random.default_rng(1)

    def by(chip_sd: float, seed_shift: float) -> dict:
        out = {}
        for i in range(12):
            level = 60.0 + 2.0 * i
            out[f"a{i}"] = {s: {"times": times, "mean": [level + s * seed_shift * (-1) ** i] * 4,
                                "per_repeat": [[level + c] * 4 for c in rng.normal(0, chip_sd, 8)]}
                            for s in (0, 1)}
        return {"quick": out}

    study.ceiling_report(by(0.0, 0.0))
    clean = capsys.readouterr().out
    assert "| quick | 1 day | 12 | 0.00 | 1.000 | " in clean  # the binomial of 1,000 images still shows
    study.ceiling_report(by(8.0, 1.5))
    noisy = capsys.readouterr().out.splitlines()
    row = next(line for line in noisy if line.startswith("| quick | 1 day |"))
    one8, one40, two8, two40, four8 = (float(c) for c in row.strip("| ").split(" | ")[4:])
    assert one8 < one40 < two40 and one8 < two8 < four8 < 1.0
    assert "1 seed x 40 chips (1,000 images)" in noisy[1]
    study.ceiling_report({"quick": {"a0": {0: {"times": times, "mean": [1.0] * 4, "per_repeat": [[1.0] * 4] * 2}}}})
    assert capsys.readouterr().out == ""  # one seed of one network: nothing to say


def test_matched_report_compares_candidates_on_the_same_networks(study, capsys) -> None:
    times = [1.0, 3600.0, 86400.0, 2592000.0]

    def row(level: float) -> dict:
        return {"times": times, "mean": [level] * 4, "per_repeat": [[level] * 4]}

    a = {f"n{i}": {0: row(50.0 + i), 1: row(50.0 + i)} for i in range(7)}
    b = {f"n{i}": {0: row(90.0 - i), 1: row(90.0 - i + (3.0 if i == 0 else 0.0))} for i in range(6)}
    b["n6"] = {0: row(1.0)}  # one seed only: not in the matched set
    study.matched_report({"standard": {}, "a": a, "b": b})
    out = capsys.readouterr().out
    assert "On the 6 architectures every candidate measured with two seeds" in out
    assert "| a: seed 0 vs 1 | 1.000 [1.00, 1.00] |" in out
    assert "| a vs b (seed means) | -1.000 [-1.00, -1.00] |" in out  # b ranks them the other way round
    study.matched_report({"standard": {}, "a": a})
    assert capsys.readouterr().out == ""  # one candidate: nothing to match


def test_processes_sharing_the_output_never_measure_a_row_twice(study, tmp_path: Path, monkeypatch, capsys) -> None:
    """A row another process holds (its claim locked) is left to it while others are free;
    then the process waits on it, and when the holder dies without writing the row (the
    kernel drops its lock) measures it itself. Nothing is measured twice."""
    import subprocess
    import sys
    import threading

    tiny = get_fidelity("quick").with_overrides(train_size=200, test_size=100, epochs=1, batch_size=50)
    monkeypatch.setattr(study, "candidates", lambda: {"tiny": tiny})
    specs = [ArchSpec(8, 3, (StageSpec(w, 1),), name=f"w{w}") for w in (4, 8)]
    monkeypatch.setattr(study, "panel", lambda n: specs[:n])
    monkeypatch.setattr(study, "PROBE_IMAGES", 50)
    out = tmp_path / "s.jsonl"
    args = argparse.Namespace(out=str(out), cache_dir=str(tmp_path / "c"), only=None, repeats=1, device="cpu",
                              panel=2, seeds="0")
    held = specs[0].arch_id
    lock = tmp_path / ".s.jsonl.claims" / f"{held}-tiny-0.lock"
    lock.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(120)"), str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with study.claim(out, f"{held}-tiny-0") as mine:
            assert not mine  # held elsewhere: refused at once
        real_claim, killers = study.claim, []

        def claim_then_kill_holder(out_, key, wait=False):  # type: ignore[no-untyped-def]
            if wait:  # the measuring process now waits on the held row: its holder dies
                killers.append(threading.Timer(0.5, holder.kill))  # without writing the row
                killers[-1].start()
            return real_claim(out_, key, wait=wait)

        monkeypatch.setattr(study, "claim", claim_then_kill_holder)
        study.measure(args)
        for k in killers:
            k.join()
    finally:
        holder.kill()
        holder.wait()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["arch_id"] for r in rows] == [specs[1].arch_id, held]  # the free row first, then the orphan
    assert "tiny: 1 left, each measured by another process now; waiting" in capsys.readouterr().out
    study.measure(args)  # nothing left, nothing measured twice
    assert len(out.read_text().splitlines()) == 2
    out.write_text(out.read_text() + '{"arch_id": "cut off')  # a writer killed mid-line
    assert len(study.read_rows(out)) == 2 and "is not a whole row; skipped" in capsys.readouterr().err

def test_merge_appends_only_rows_the_study_lacks(study, tmp_path: Path, monkeypatch, capsys) -> None:
    """Another machine's rows join the study once: a key already there is left out, and a
    line cut off mid-write is skipped, never fatal."""
    def row(arch: str, seed: int) -> str:
        return json.dumps({"arch_id": arch, "fidelity": "standard", "seed": seed}) + "\n"

    out, other = tmp_path / "s.jsonl", tmp_path / "new.jsonl"
    out.write_text(row("a", 0) + row("b", 0))
    other.write_text(row("b", 0) + row("c", 1) + row("c", 1) + '{"arch_id": "d')
    assert study.merge(out, other) == (1, 2)
    assert out.read_text() == row("a", 0) + row("b", 0) + row("c", 1)
    monkeypatch.setattr("sys.argv", ["fidelity_study.py", "--out", str(out), "--merge", str(other)])
    assert study.main() == 0 and "merged 0 row(s)" in capsys.readouterr().out
    monkeypatch.setattr("sys.argv", ["fidelity_study.py", "--out", str(out), "--merge", str(tmp_path / "none")])
    assert study.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err


def test_rows_with_training_on_disk_are_measured_first(study, tmp_path: Path, monkeypatch) -> None:
    """A restarted process first finishes the rows whose training a killed run left behind
    (a finished FP32 checkpoint here), before the panel's order."""
    from analognas.data import load_dataset
    from analognas.training import DATA_SEED, CheckpointStore, ensure_fp32

    tiny = get_fidelity("quick").with_overrides(train_size=200, test_size=100, epochs=1, batch_size=50)
    monkeypatch.setattr(study, "candidates", lambda: {"tiny": tiny})
    specs = [ArchSpec(8, 3, (StageSpec(w, 1),), name=f"w{w}") for w in (4, 8, 12)]
    monkeypatch.setattr(study, "panel", lambda n: specs[:n])
    monkeypatch.setattr(study, "PROBE_IMAGES", 50)
    store = CheckpointStore(tmp_path / "c")
    ds = load_dataset("fashion-mnist", train_size=200, test_size=100, seed=DATA_SEED)
    ensure_fp32(specs[2], ds, tiny, 0, store, None, "cpu")
    args = argparse.Namespace(out=str(tmp_path / "s.jsonl"), cache_dir=str(tmp_path / "c"), only=None,
                              repeats=1, device="cpu", panel=3, seeds="0")
    study.measure(args)
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["arch_id"] for r in rows] == [specs[2].arch_id, specs[0].arch_id, specs[1].arch_id]


def test_a_resumed_row_says_so_and_its_cost_is_not_counted(study, tmp_path: Path, monkeypatch) -> None:
    """A row that finishes training an earlier sitting began (a resume file on disk) paid for
    only part of it: it is marked, and the cost figures leave it out; rows carry where they
    were measured and trained."""
    from analognas.analog import get_recipe
    from analognas.data import load_dataset
    from analognas.training import DATA_SEED, CheckpointStore, ensure_fp32

    class Killed(Exception):
        pass

    tiny = get_fidelity("quick").with_overrides(train_size=200, test_size=100, epochs=2, batch_size=50)
    monkeypatch.setattr(study, "candidates", lambda: {"tiny": tiny})
    specs = [ArchSpec(8, 3, (StageSpec(w, 1),), name=f"w{w}") for w in (4, 8)]
    monkeypatch.setattr(study, "panel", lambda n: specs[:n])
    monkeypatch.setattr(study, "PROBE_IMAGES", 50)
    store = CheckpointStore(tmp_path / "c")
    ds = load_dataset("fashion-mnist", train_size=200, test_size=100, seed=DATA_SEED)

    def die_in_epoch_two(done: int, total: int, desc: str) -> None:
        if "epoch 2/2" in desc:
            raise Killed

    with pytest.raises(Killed):
        ensure_fp32(specs[1], ds, tiny, 0, store, die_in_epoch_two, "cpu")
    assert study._resuming(store, specs[1], tiny, get_recipe("hwa-v2"), 0)
    assert not study._resuming(store, specs[0], tiny, get_recipe("hwa-v2"), 0)
    args = argparse.Namespace(out=str(tmp_path / "s.jsonl"), cache_dir=str(tmp_path / "c"), only=None,
                              repeats=1, device="cpu", panel=2, seeds="0")
    study.measure(args)
    rows = {r["name"]: r for r in study.read_rows(tmp_path / "s.jsonl")}
    assert rows["w8"]["resumed"] is True and rows["w4"]["resumed"] is False
    assert [r["name"] for r in study._paid(list(rows.values()))] == ["w4"]
    for r in rows.values():
        assert r["measured_on"].startswith("cpu ") and r["fp32_trained_on"].startswith(r["measured_on"])
        assert r["bf16_convolutions"] in ("native", "emulated")


def _panel_rows(study) -> dict:
    """A synthetic study: 16 reference networks; ``exact`` (and ``half``, with probes that
    rank like the accuracy) ranks them perfectly at the same level; ``low`` ranks them
    perfectly but lands further below the larger they are."""
    times = [1.0, 3600.0, 86400.0, 2592000.0]

    def row(level: float, params: int, cpu: float) -> dict:
        return {"times": times, "mean": [level] * 4, "per_repeat": [[level] * 4], "params": params, "fp32": level,
                "avm": 1.0, "cpu_seconds": cpu, "train_seconds": {"fp32": cpu / 2, "hwa": cpu / 4},
                "eval_seconds": cpu / 4, "probe": {f"{study.PROBE_ETA:g}": {"loss_increase": 100.0 - level}}}

    params = {f"n{i:02d}": 1000 * (i + (3 if i % 2 == 0 else 1)) for i in range(16)}  # size ranks them imperfectly
    ref = {a: {0: row(80.0 + i, params[a], 3000.0)} for i, a in enumerate(params)}
    exact = {a: {0: row(80.0 + i, params[a], 500.0)} for i, a in enumerate(params)}
    low = {a: {0: row(80.0 + i - params[a] / 10_000, params[a], 100.0)} for i, a in enumerate(params)}
    half = {a: {0: row(80.0 + i, params[a], 600.0)} for i, a in enumerate(params)}
    return {"standard": ref, "exact": exact, "half": half, "low": low}


def test_readme_findings_and_what_is_left_are_computed_from_the_rows(study, tmp_path: Path) -> None:
    by = _panel_rows(study)
    lines = study._findings(by)
    first = lines[0]
    assert first.startswith("On the 16 networks the rule compares, paired intervals that exclude 0:")
    assert "`exact` minus `parameters`" in first
    assert "The rule's pick, `low`," in first and "the paired interval says better: `low` minus `parameters`" in first
    size = next(line for line in lines if line.startswith("The reference's own spread"))
    assert "the other 15 lie within 14.0 points" in size and "FP32 accuracy ranks its 1-day accuracy at 1.000" in size
    level = next(line for line in lines if "*level*" in line)
    assert level.startswith("`exact` gets closest") and "lands 0.0-0.0 points" in level
    assert "`low`'s falls further behind the larger the network" in level
    probe = next(line for line in lines if line.startswith("The weight-noise probe"))
    assert "at 1.000 from `half` checkpoints (their FP32 accuracy 1.000)" in probe and "`quick`" not in probe
    assert any(line.startswith("Drift evaluation is 25 %") and "at 4 drift times" in line for line in lines)

    cache = tmp_path / "fashion-mnist"
    (cache / "abc123").mkdir(parents=True)
    (cache / "abc123" / "fp32-x-s0.partial.pt").write_bytes(b"")
    left = study._left(by, 20, (0, 1), cache)
    assert "for 4 more panel networks and the other seeds of the 16 measured (24 records, or a GPU: " \
        "`benchmarks/gpu_reference.sh`; about 20 CPU-hours at the 3,000 CPU-s" in left
    assert "a `standard` record has cost so far" in left
    assert "abc123 is under way" in left
    full = {**by, "standard": {a: {0: d[0], 1: d[0]} for a, d in by["standard"].items()}}
    assert study._left(full, 16, (0, 1), cache).startswith("What is left: nothing of the reference")


def test_readme_block_replaces_only_its_markers(study, tmp_path: Path, monkeypatch, capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# top\n\n{study.README_BEGIN}\nold\n{study.README_END}\n\n## after\n")
    study.write_readme(readme, f"{study.README_BEGIN}\nnew\n{study.README_END}")
    assert readme.read_text() == f"# top\n\n{study.README_BEGIN}\nnew\n{study.README_END}\n\n## after\n"
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    with pytest.raises(study.PanelError, match="needs one"):
        study.write_readme(plain, "x")
    assert plain.read_text() == "no markers\n"
    plain.write_text(f"{study.README_END}\n{study.README_BEGIN}\n")  # the wrong way round
    with pytest.raises(study.PanelError, match="after it"):
        study.write_readme(plain, "x")
    monkeypatch.setattr("sys.argv", ["fidelity_study.py", "--readme", str(tmp_path / "missing.md")])
    assert study.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.md: no such file" in err


def test_what_is_left_prices_each_missing_record_from_its_quick_record(study, tmp_path: Path) -> None:
    """`--order cheap` measures the cheap networks first, so the estimate must not be the
    mean of what was paid so far: each missing record costs its network's `quick` cost
    times the median standard/quick ratio."""
    def row(arch: str, cpu: float, **extra) -> dict:
        return {"arch_id": arch, "cpu_seconds": cpu, **extra}

    quick = {a: {0: row(a, q)} for a, q in {"a": 1000.0, "b": 1000.0, "c": 1000.0, "d": 1000.0, "e": 1000.0,
                                            "big": 10_000.0, "huge": 20_000.0}.items()}
    quick["old"] = {0: row("old", 5.0, cached={"fp32": True})}  # a cached old-format row says no cost
    quick["res"] = {0: row("res", 5.0, resumed=True)}  # nor does a resumed one
    # a newer cached row carries the training time its checkpoint saved: 1,000 paid + 3,000
    quick["new"] = {0: row("new", 1000.0, cached={"fp32": True}, train_seconds={"fp32": 3000.0, "hwa": 500.0},
                           eval_seconds=500.0)}
    # paid at both: ratios 5, 6 and 7 (two seeds averaged first); cached and resumed rows do not count
    ref = {"a": {0: row("a", 5000.0)}, "b": {0: row("b", 5000.0), 1: row("b", 7000.0)}, "c": {0: row("c", 7000.0)},
           "d": {0: row("d", 99_999.0, cached={"fp32": True})}, "e": {0: row("e", 1e6, resumed=True)}}
    by = {"standard": ref, "quick": quick}
    cost = study._reference_cost(by, [("big", 0), ("huge", 0), ("a", 1), ("new", 0)])
    hours = 6 * (10_000 + 20_000 + 1000 + 4000) / 3600
    assert cost.startswith(f"; about {hours:.0f} CPU-hours, each priced at its network's `quick` cost times 6.0")
    assert "the 3 networks paid for at both (range 5.0-7.0)" in cost
    assert "the mean so far, 6,000 CPU-s, would say 7," in cost  # 4 records x 6,000 s
    # a network without a quick cost is priced at the mean, and the phrase says so
    unknown = study._reference_cost(by, [("big", 0), ("old", 0), ("res", 0), (None, 1)])
    assert f"about {(6 * 10_000 + 3 * 6000) / 3600:.0f} CPU-hours" in unknown
    assert "(3 without one at the mean)" in unknown
    two = {"standard": {"a": ref["a"], "c": ref["c"]}, "quick": quick}
    assert study._reference_cost(two, [("big", 0)] * 3) == "; about 5 CPU-hours at the 6,000 CPU-s a `standard` " \
        "record has cost so far"
    assert study._reference_cost({"standard": {"d": ref["d"]}}, [("big", 0)]) == ""
    # _left: the panel's other members, both seeds each; one the rows do not name is priced at the mean
    left = study._left(by, 10, (0, 1), tmp_path, panel_ids=["a", "b", "c", "d", "e", "big", "huge", "zz", "yy"])
    assert "for 5 more panel networks and the other seeds of the 5 measured (14 records, or a GPU" in left
    every = (6 * 1000 * 4 + 6 * (10_000 + 20_000) * 2 + 6000 * 2 * 3) / 3600  # a, c, d, e seed 1; big, huge; 3 unknown
    assert f"about {every:.0f} CPU-hours" in left and "(6 without one at the mean)" in left


def test_what_is_left_says_how_far_each_training_under_way_got(study, tmp_path: Path) -> None:
    from analognas.training._resume import ResumeFile

    fidelity = {"name": "standard", "epochs": 20, "hwa_epochs": 3}
    standard, half = study.candidates()["standard"], study.candidates()["half"]
    (tmp_path / "aaa").mkdir()
    (tmp_path / "bbb").mkdir()
    (tmp_path / "ccc").mkdir()
    ResumeFile.beside(tmp_path / "aaa" / "fp32-x-s0.pt", fidelity=fidelity,
                      key={"mode": "fp32", "fidelity_hash": standard.fp32_hash()}).save(epoch=9)
    ResumeFile.beside(tmp_path / "bbb" / "hwa-y-s0.pt", fidelity=fidelity,
                      key={"mode": "hwa", "fidelity_hash": standard.hash()}).save(epoch=2)
    (tmp_path / "ccc" / "fp32-z-s0.partial.pt").write_bytes(b"torn")
    (tmp_path / "ddd").mkdir()
    ResumeFile.beside(tmp_path / "ddd" / "fp32-w-s0.pt", fidelity={**fidelity, "epochs": 8, "train_size": 30000},
                      key={"mode": "fp32", "fidelity_hash": half.fp32_hash()}).save(epoch=5)
    assert study._under_way(tmp_path) == ["aaa (9 of 20 FP32 epochs done)", "bbb (2 of 3 HWA epochs done)", "ccc"]
