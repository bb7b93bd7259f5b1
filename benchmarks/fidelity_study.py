"""Which cheap fidelity ranks architectures like `standard` does (protocol v2)?

A fixed panel of architectures (``--panel`` of them, default 20: ResNet32, T500 and a
seeded space-filling design of ``resnet_like``) is measured with the real pipeline (FP32
training, HWA fine-tuning with ``hwa-v2``, PCM drift over ``--repeats`` programmings) at
the reference fidelity ``standard`` and at each candidate fidelity, each with two training
seeds. Every finished measurement is appended to ``--out`` (JSON lines) as it lands, and
checkpoints go to ``--cache-dir``, so the study resumes after a kill, on another machine,
or split over many (``--only FIDELITY``, ``--seeds``, ``--archs``, ``--device cuda``).
Processes on one machine may share the output file: each row is claimed by one of them
(``claim``), and ``--order cheap`` measures the cheapest architectures first.

``--report`` reads the file and prints, per candidate fidelity (each tau with its 95 %
bootstrap interval): Kendall tau of 1-day
accuracy and of AVM against the reference (seed-averaged), tau between its own two
training seeds, tau between two programmings (programming 0 against 1 of the same
networks), and CPU-seconds per record, and then names the collection fidelity: the
cheapest candidate whose 1-day tau against the reference is within 0.05 of the best
candidate's (``choose``), so the choice is made by rank agreement per CPU-second.

Every training seed is programmed with chip seed 0 (``DriftEvalConfig``'s default), so
the chips are paired across seeds as well as across architectures; ``compare`` and
``evaluate`` instead give training seed s chip seed s. The rows already committed were
measured this way, so the study keeps it.

Every row also carries a cheap robustness feature measured on its FP32 checkpoint in
seconds (``analognas.analog.weight_noise_sensitivity``: loss increase under per-column
Gaussian weight noise, on 2,000 training images, at ``PROBE_ETAS``), and the report gives
its tau against 1-day and 1-month HWA accuracy and AVM, at the reference and at the
row's own fidelity (lower loss increase should mean higher accuracy: tau is of the
negated feature).

Usage::

    python benchmarks/fidelity_study.py [--panel 20] [--seeds 0,1] [--only quick] [--device auto]
        [--archs resnet32,T500] [--order cheap]
    python benchmarks/fidelity_study.py --report
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from analognas._errors import CheckpointError
from analognas._safe_load import load_tensors
from analognas.analog import PROBE_ETA, PROBE_IMAGES

ROOT = Path(__file__).resolve().parents[1]
ONE_DAY, ONE_MONTH = 86400.0, 2592000.0
PROBE_ETAS = (PROBE_ETA, 0.1)  # the first is the one collect records


def candidates():  # -> dict[str, Fidelity]
    from analognas.training import get_fidelity

    quick = get_fidelity("quick")
    return {
        "standard": get_fidelity("standard"),
        "quick": quick,
        "quick-2ep": quick.with_overrides(epochs=2),
        "quick-10k": quick.with_overrides(train_size=10000),
        "half": get_fidelity("standard").with_overrides(epochs=8, hwa_epochs=1, train_size=30000),
    }


def panel(n: int) -> list:  # -> list[ArchSpec]
    import numpy as np

    from analognas.models import get_spec
    from analognas.space import load_space

    space = load_space("resnet_like")
    fixed = [get_spec("resnet32"), get_spec("T500")]
    rest = space.sample(np.random.default_rng(2026), max(0, n - len(fixed)))
    return fixed + rest


class PanelError(ValueError):
    """A panel selection that names no panel member."""


def select(specs: list, archs: str | None, order: str, rows: list[dict]) -> list:
    """The panel members to measure, in the order to measure them. ``archs`` (ids or names,
    comma-separated) splits the panel between processes or machines that share the output
    file; ``order="cheap"`` measures first the architectures whose recorded rows took the
    fewest seconds (at ``quick`` where measured, else at any fidelity; unmeasured ones
    last; wall seconds of training and drift where a row has them, else its CPU-seconds),
    so that a reference fidelity costing hours per record covers as many architectures as
    the time allows before it covers the expensive ones."""
    if archs:
        wanted = [a.strip() for a in archs.split(",") if a.strip()]
        known = {k: sp for sp in specs for k in (sp.arch_id, sp.label)}
        unknown = [a for a in wanted if a not in known]
        if unknown:
            raise PanelError(f"--archs: {', '.join(unknown)} not in the panel (ids or names: "
                             f"{', '.join(sp.label for sp in specs)})")
        ids = {known[a].arch_id for a in wanted}
        specs = [sp for sp in specs if sp.arch_id in ids]
    if order == "cheap":
        def seconds(r: dict) -> float | None:
            # rows since 2026-12-03 carry each training's full time, cached or resumed;
            # older rows only their own CPU-seconds, which a cached checkpoint shortened
            if "eval_seconds" in r:
                return sum(r["train_seconds"].values()) + r["eval_seconds"]
            return None if any((r.get("cached") or {}).values()) else r["cpu_seconds"]

        def cost(sp) -> float:
            mine = [(r["fidelity"], seconds(r)) for r in rows if r["arch_id"] == sp.arch_id]
            mine = [(f, s) for f, s in mine if s is not None]
            pick = [s for f, s in mine if f == "quick"] or [s for _, s in mine]
            return sum(pick) / len(pick) if pick else math.inf

        specs = sorted(specs, key=cost)  # stable: ties keep the panel's order
    return specs


def measure(args: argparse.Namespace) -> None:
    from analognas._device import resolve_device
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.data import load_dataset
    from analognas.training import DATA_SEED, CheckpointStore

    out = Path(args.out)
    rows = read_rows(out)
    specs = select(panel(args.panel), getattr(args, "archs", None), getattr(args, "order", "panel"), rows)
    fids = candidates()
    names = [args.only] if args.only else list(fids)
    recipe = get_recipe("hwa-v2")
    drift = DriftEvalConfig(times=(1.0, 3600.0, ONE_DAY, ONE_MONTH), repeats=args.repeats)
    store = CheckpointStore(args.cache_dir)
    device = resolve_device(args.device)
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in names:
        fid = fids[name]
        ds = None
        todo = [(seed, spec) for seed in seeds for spec in specs]
        wait = False  # first the rows nobody holds; then wait on the held ones, in case a holder dies
        while True:
            done = _done(out)
            pending = [(seed, spec) for seed, spec in todo if (spec.arch_id, name, seed) not in done]
            # rows with training already on disk (a killed run's epochs, a finished FP32
            # checkpoint) first: their hours are spent, and a restart should not leave them
            pending.sort(key=lambda p: not _started(store, p[1], fid, recipe, p[0]))  # stable
            if not pending:
                break
            if wait:
                print(f"{name}: {len(pending)} left, each measured by another process now; waiting", flush=True)
            took = 0
            for seed, spec in pending:
                with claim(out, f"{spec.arch_id}-{name}-{seed}", wait=wait) as mine:
                    if not mine or (spec.arch_id, name, seed) in _done(out):
                        continue
                    took += 1
                    if ds is None:
                        ds = load_dataset("fashion-mnist", data_dir=getattr(args, "data_dir", None),
                                          train_size=fid.train_size, test_size=fid.test_size, seed=DATA_SEED)
                    _measure_one(out, name, fid, seed, spec, ds, recipe, drift, store, device)
            if wait and not took:
                break  # every held row was finished by its holder
            wait = not took


def _started(store, spec, fid, recipe, seed: int) -> bool:
    """Whether the cache holds part of this row's training: its FP32 checkpoint, the
    epoch-resume file of an FP32 run that was cut off, or its HWA checkpoint."""
    from analognas.training import checkpoint_key
    from analognas.training._resume import ResumeFile

    fp32 = store.paths(checkpoint_key(spec, "fashion-mnist", "fp32", None, fid, seed))[0]
    hwa = store.paths(checkpoint_key(spec, "fashion-mnist", "hwa", recipe, fid, seed))[0]
    return any(p.exists() for p in (fp32, ResumeFile.beside(fp32).path, hwa))


def _resuming(store, spec, fid, recipe, seed: int) -> bool:
    """Whether this row continues a training cut off in an earlier sitting (an FP32 or HWA
    epoch-resume file is on disk): its CPU-seconds then cover only this sitting."""
    from analognas.training import checkpoint_key
    from analognas.training._resume import ResumeFile

    return any(ResumeFile.beside(store.paths(checkpoint_key(spec, "fashion-mnist", mode, r, fid, seed))[0]).path
               .exists() for mode, r in (("fp32", None), ("hwa", recipe)))


def read_rows(out: Path) -> list[dict]:
    """The study's rows; a line that does not parse (the last one, cut off when a writer
    was killed mid-line) is skipped with a note, never fatal."""
    if not out.exists():
        return []
    rows = []
    for number, line in enumerate(out.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            print(f"note: {out}:{number} is not a whole row; skipped", file=sys.stderr)
    return rows


def merge(out: Path, other: Path) -> tuple[int, int]:
    """Append to ``out`` the rows of ``other`` (another machine's new rows) whose
    architecture, fidelity and seed ``out`` lacks: (appended, left out)."""
    have = _done(out)
    new, skipped = [], 0
    for r in read_rows(other):
        key = (r["arch_id"], r["fidelity"], r["seed"])
        if key in have:
            skipped += 1
            continue
        have.add(key)
        new.append(r)
    if new:
        with out.open("a") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in new))
    return len(new), skipped


def _done(out: Path) -> set[tuple[str, str, int]]:
    return {(r["arch_id"], r["fidelity"], r["seed"]) for r in read_rows(out)}


@contextmanager
def claim(out: Path, key: str, wait: bool = False) -> Iterator[bool]:
    """Hold `key` while it is measured, so that processes sharing ``out`` on one machine
    (or a file system with working locks) never measure the same row twice: an exclusive
    ``flock`` on a file beside ``out``, which the kernel releases when its holder dies.
    ``wait`` blocks until the holder is done: a process with nothing else left waits on
    the rows others hold and measures the row of a holder that died. Machines that share
    only the committed file split the panel with ``--archs`` instead."""
    import fcntl

    folder = out.parent / f".{out.name}.claims"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key}.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held; any other OSError (no locks here) is the user's to see
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _measure_one(out: Path, name: str, fid, seed: int, spec, ds, recipe, drift, store, device) -> None:
    from analognas.analog import weight_noise_sensitivity
    from analognas.training import ensure_fp32, evaluate_architecture
    from analognas.training._loop import machine

    resumed = _resuming(store, spec, fid, recipe, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    ev = evaluate_architecture(spec, dataset=ds, fidelity=fid, recipe=recipe, drift=drift,
                               modes=("hwa",), seed=seed, store=store, device=device)
    curve = ev.curves["hwa"]
    t1 = time.perf_counter()
    fp32, fp32_meta, _ = ensure_fp32(spec, ds, fid, seed, store, None, device)
    x, y = ds.train.x[:PROBE_IMAGES].to(device), ds.train.y[:PROBE_IMAGES].to(device)
    probe = {f"{eta:g}": weight_noise_sensitivity(fp32, x, y, recipe, eta=eta, seed=seed).to_dict()
             for eta in PROBE_ETAS}
    probe["seconds"] = time.perf_counter() - t1
    row = {
        "arch_id": spec.arch_id, "name": spec.label, "fidelity": name, "fidelity_hash": fid.hash(),
        "seed": seed, "params": ev.params, "fp32": ev.fp32_accuracy,
        "times": list(curve.times), "per_repeat": [list(r) for r in curve.per_repeat],
        "mean": list(curve.mean), "avm": curve.avm, "wall_seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0, "cached": ev.cached, "device": str(device),
        # wall seconds of each training and of the drift evaluation (rows since
        # 2026-12-03; earlier rows have only the totals)
        "train_seconds": ev.train_seconds, "eval_seconds": ev.eval_seconds,
        "probe": probe,
        # provenance (rows since 2026-12-07): where this process measured the row (drift
        # evaluation, and any training it did), where the FP32 checkpoint was trained and
        # with which bf16 convolutions, "+"-joined over resumed sittings (None: checkpoints
        # from before the fields)
        "resumed": resumed,  # continues an earlier sitting's training: CPU-seconds cover this one only
        "measured_on": machine(device),
        "fp32_trained_on": fp32_meta.get("metrics", {}).get("trained_on"),
        "bf16_convolutions": fp32_meta.get("metrics", {}).get("bf16_convolutions"),
    }
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(f"{name} seed {seed} {spec.label}: 1 day {curve.at(ONE_DAY)[0]:.2f} %,"
          f" {row['cpu_seconds']:.0f} CPU-s", flush=True)


def _tau(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic) if len(a) >= 3 else math.nan


BOOTSTRAP = 1000  # resamples of the interval of each tau


def _bootstrap(members: list[list[int]], statistic: Callable[[Any], float]) -> list[float]:
    """The finite values of ``statistic`` over ``BOOTSTRAP`` percentile-bootstrap resamples
    of the units, each unit ``members[j]`` (the row indices drawn together) and the
    statistic a function of the resampled row indices. Seeded with 0, so every interval of
    the report is reproducible; ``_cell`` and ``tau_differences`` share it."""
    import numpy as np

    rng = np.random.default_rng(0)
    boots = []
    for _ in range(BOOTSTRAP):
        i = np.concatenate([members[j] for j in rng.integers(0, len(members), len(members))]).astype(int)
        t = statistic(i)
        if np.isfinite(t):
            boots.append(float(t))
    return boots


def _cell(a: list[float], b: list[float], groups: list[str] | None = None) -> str:
    """Tau with its 95 % percentile-bootstrap interval: with 20 networks a tau is uncertain
    by about +-0.15, and the table should say so. The unit resampled is the architecture:
    pairs that share one (``groups``, e.g. both seeds' records) are drawn together, since
    they are not independent. Seeded: the report is reproducible."""
    import numpy as np
    from scipy.stats import kendalltau

    tau = _tau(a, b)
    units = sorted(set(groups)) if groups is not None else list(range(len(a)))
    if len(units) < 3:
        return "nan"  # records of fewer than three networks rank nothing
    if not math.isfinite(tau) or len(units) < 5:
        return f"{tau:.3f}"
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    members = [[i for i, g in enumerate(groups) if g == u] for u in units] if groups is not None else \
        [[i] for i in units]
    boots = _bootstrap(members, lambda i: kendalltau(x[i], y[i]).statistic)
    if len(boots) < BOOTSTRAP // 2:
        return f"{tau:.3f}"
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return f"{tau:.3f} [{lo:.2f}, {hi:.2f}]"


def _day(r: dict) -> float:
    """A row's mean accuracy at 1 day."""
    return r["mean"][r["times"].index(ONE_DAY)]


def _seed_mean_day(seeds: dict) -> float:
    """One architecture's 1-day accuracy averaged over its seeds' rows (seed -> row)."""
    return sum(_day(r) for r in seeds.values()) / len(seeds)


def _paid(recs: list[dict]) -> list[dict]:
    """The rows that paid for their training: a row whose checkpoints came from the cache
    did not, and a row that resumed an earlier sitting's training paid only for part of it
    (rows before 2026-12-07 do not say), so their CPU-seconds would understate the cost."""
    return [r for r in recs if not any((r.get("cached") or {}).values()) and not r.get("resumed")]


def report(args: argparse.Namespace) -> None:
    print_report(_by(read_rows(Path(args.out))))


def _by(rows: list[dict]) -> dict:
    """Rows grouped as fidelity -> architecture -> seed -> row."""
    by: dict = {}
    for r in rows:
        by.setdefault(r["fidelity"], {}).setdefault(r["arch_id"], {})[r["seed"]] = r
    return by


def _params(seeds: dict) -> int:
    """An architecture's parameter count (the same in every seed's row)."""
    return next(iter(seeds.values()))["params"]


def print_report(by: dict) -> None:
    def prog(r, k):
        return r["per_repeat"][k][r["times"].index(ONE_DAY)]

    ref = by.get("standard", {})
    splits: list[str] = []
    print("| fidelity | archs | tau 1 day vs standard | tau AVM vs standard | tau seed 0 vs 1 |"
          " tau programming 0 vs 1 | CPU-s per record |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, archs in by.items():
        both = [a for a in archs if len(archs[a]) >= 2]
        common = [a for a in archs if a in ref]
        mean_avm = lambda d, a: sum(r["avm"] for r in d[a].values()) / len(d[a])
        ref_day = ([_seed_mean_day(archs[a]) for a in common], [_seed_mean_day(ref[a]) for a in common])
        ref_avm = ([mean_avm(archs, a) for a in common], [mean_avm(ref, a) for a in common])
        s0, s1 = sorted({s for a in both for s in archs[a]})[:2] if both else (0, 1)
        paired = [a for a in both if s0 in archs[a] and s1 in archs[a]]
        seeds = ([_day(archs[a][s0]) for a in paired], [_day(archs[a][s1]) for a in paired])
        recs = [r for a in archs for r in archs[a].values()]
        multi = [r for r in recs if len(r["per_repeat"]) > 1]
        progs = ([prog(r, 0) for r in multi], [prog(r, 1) for r in multi])
        paid = _paid(recs)
        cpu = sum(r["cpu_seconds"] for r in paid or recs) / len(paid or recs)
        cpu_text = f"{cpu:.0f}" if paid else "n/a (all cached)"
        print(f"| {name} | {len(archs)} | {_cell(*ref_day)} | {_cell(*ref_avm)} | {_cell(*seeds)} | "
              f"{_cell(*progs, groups=[r['arch_id'] for r in multi])} | {cpu_text} |")
        # training seconds are those recorded with each checkpoint (a resumed or cached
        # training keeps its full time), so rows with cached checkpoints count too
        split = [r for r in recs if "eval_seconds" in r]
        train = sum(sum(r["train_seconds"].values()) for r in split)
        drift = sum(r["eval_seconds"] for r in split)
        if train + drift > 0:
            splits.append(f"{name}: training {100 * train / (train + drift):.0f} %, drift evaluation "
                          f"{100 * drift / (train + drift):.0f} % of training plus drift wall time ({len(split)} rows)")
    for line in splits:
        print(f"\n{line}")
    _, common, _ = _ranked_and_shared(by)
    print("\n" + choose(*choice_scores(by), size_baseline(by), tau_differences(by, set(common))))
    differences_report(tau_differences(by))
    level_report(by)
    matched_report(by)
    noise_report(by)
    ceiling_report(by)
    probe_report(by, ref)


def matched_report(by: dict) -> None:
    """The candidates compared on the same networks: the architectures every fidelity
    but the reference has measured with both of the two lowest seeds. Per fidelity, tau
    between its two seeds on 1-day and 1-month accuracy; and tau between each pair of
    fidelities on their seed means, which says whether the cheaper one ranks like the
    dearer one while the reference is still being measured."""
    cands = [n for n in by if n != "standard"]
    if len(cands) < 2:
        return

    def seeds_of(d):
        return sorted({s for r in d.values() for s in r})[:2]

    common = None
    for n in cands:
        s0s1 = seeds_of(by[n])
        have = {a for a, d in by[n].items() if len(s0s1) == 2 and set(s0s1) <= set(d)}
        common = have if common is None else common & have
    common = sorted(common or ())
    if len(common) < 5:
        return

    def at(r, t):
        return r["mean"][r["times"].index(t)]

    print(f"\nOn the {len(common)} architectures every candidate measured with two seeds:\n")
    print("| fidelities | tau 1 day | tau 1 month |")
    print("|---|---:|---:|")
    for n in cands:
        s0, s1 = seeds_of(by[n])
        cells = [_cell([at(by[n][a][s0], t) for a in common], [at(by[n][a][s1], t) for a in common])
                 for t in (ONE_DAY, ONE_MONTH)]
        print(f"| {n}: seed {s0} vs {s1} | " + " | ".join(cells) + " |")
    for i, n in enumerate(cands):
        for m in cands[i + 1:]:
            cells = []
            for t in (ONE_DAY, ONE_MONTH):
                mean = lambda f, a, t=t: sum(at(r, t) for r in by[f][a].values()) / len(by[f][a])
                cells.append(_cell([mean(n, a) for a in common], [mean(m, a) for a in common]))
            print(f"| {n} vs {m} (seed means) | " + " | ".join(cells) + " |")


def noise_report(by: dict) -> None:
    """Where a record's noise comes from, in accuracy points (architectures measured with
    the two lowest seeds): the standard error of its mean over its programmings (chips,
    root mean square over records), its standard deviation
    between two training seeds (chips and training together), the training part alone
    (sqrt of the difference of squares), and the panel's spread of architecture means.
    More programmings shrink only the first; the training part needs more seeds."""
    import numpy as np

    print("\n| fidelity | drift time | archs | SE of a record (chips) | sd between seeds | of which training |"
          " spread of the panel |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, archs in by.items():
        seeds = sorted({s for d in archs.values() for s in d})[:2]
        seed_pairs = [(d[seeds[0]], d[seeds[1]]) for d in archs.values() if len(seeds) == 2 and set(seeds) <= set(d)]
        for label, t in (("1 day", ONE_DAY), ("1 month", ONE_MONTH)):
            pairs = [(a, b) for a, b in seed_pairs if t in a["times"] and t in b["times"]]
            if len(pairs) < 3:
                continue
            at = lambda r, t=t: r["times"].index(t)
            recs = [r for p in pairs for r in p if len(r["per_repeat"]) > 1]
            # root mean square, since it is subtracted in quadrature below
            se = math.sqrt(float(np.mean([np.var([c[at(r)] for c in r["per_repeat"]], ddof=1) / len(r["per_repeat"])
                                          for r in recs])))
            diffs = [a["mean"][at(a)] - b["mean"][at(b)] for a, b in pairs]
            sd_seed = float(np.std(diffs, ddof=1) / math.sqrt(2))
            train = math.sqrt(max(0.0, sd_seed**2 - se**2))
            spread = float(np.std([(a["mean"][at(a)] + b["mean"][at(b)]) / 2 for a, b in pairs], ddof=1))
            print(f"| {name} | {label} | {len(pairs)} | {se:.2f} | {sd_seed:.2f} | {train:.2f} | {spread:.2f} |")


DESIGNS = ((1, 8, None), (1, 40, 1000), (2, 8, None), (2, 40, 1000), (4, 8, None))
"""(training seeds, chips, test images per chip or None for the whole set) of the target
records the ceiling is computed for. 40 chips of 1,000 images cost about what 8 chips of
the 5,000-image ``quick`` test set cost (``benchmarks/chip_budget.py``); at another
fidelity the same designs cost otherwise (half at ``standard``'s 10,000 images)."""
CEILING_DRAWS = 500


def ceiling_report(by: dict) -> None:
    """The highest Kendall tau a surrogate can reach against targets measured one way:
    that of a perfect predictor of each architecture's expected accuracy, when the target
    carries the measured noise of its design. Per architecture the truth is taken as its
    two-seed mean; the chip variance is its own (mean over its records of the variance
    between programmings, which differs a hundredfold between fragile and robust nets);
    the training variance is the pooled one of ``noise_report``; a chip reading a random
    subset of the test set adds the finite-population binomial variance. Averaged over
    ``CEILING_DRAWS`` seeded draws. The two-seed mean still holds some noise, which widens
    the truth's spread a little, so the ceiling is if anything optimistic. A CV tau target
    above the ceiling of the records' design cannot be met by any surrogate."""
    import numpy as np
    from scipy.stats import kendalltau

    rows = []
    for name, archs in by.items():
        fid = candidates().get(name)
        n_test = (fid.test_size if fid is not None and fid.test_size else 10000)
        seeds = sorted({s for d in archs.values() for s in d})[:2]
        paired = {a: (d[seeds[0]], d[seeds[1]]) for a, d in archs.items() if len(seeds) == 2 and set(seeds) <= set(d)}
        for label, t in (("1 day", ONE_DAY), ("1 month", ONE_MONTH)):
            recs = {a: p for a, p in paired.items() if all(t in r["times"] and len(r["per_repeat"]) > 1 for r in p)}
            if len(recs) < 5:
                continue
            at = lambda r, t=t: r["times"].index(t)
            truth = np.array([np.mean([r["mean"][at(r)] for r in p]) for p in recs.values()])
            chip_var = np.array([np.mean([np.var([c[at(r)] for c in r["per_repeat"]], ddof=1) for r in p])
                                 for p in recs.values()])
            chips = np.mean([len(r["per_repeat"]) for p in recs.values() for r in p])
            diffs = [p[0]["mean"][at(p[0])] - p[1]["mean"][at(p[1])] for p in recs.values()]
            train_var = max(0.0, float(np.var(diffs, ddof=1)) / 2 - float(np.mean(chip_var)) / chips)
            q = np.clip(truth / 100, 0, 1)
            cells = []
            for k, m, images in DESIGNS:
                img_var = 0.0 if images is None or images >= n_test else \
                    1e4 * q * (1 - q) / images * (n_test - images) / (n_test - 1)
                sd = np.sqrt(train_var / k + (chip_var + img_var) / (m * k))
                rng = np.random.default_rng(0)
                taus = [kendalltau(truth, truth + rng.normal(0.0, sd)).statistic for _ in range(CEILING_DRAWS)]
                cells.append(f"{np.mean(taus):.3f}")
            rows.append(f"| {name} | {label} | {len(recs)} | {math.sqrt(train_var):.2f} | " + " | ".join(cells) + " |")
    if not rows:
        return
    print("\n| fidelity | drift time | archs | training sd | " + " | ".join(
        f"{k} seed{'s' if k > 1 else ''} x {m} chips ({'whole set' if i is None else f'{i:,} images'})"
        for k, m, i in DESIGNS) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(DESIGNS))
    print("\n".join(rows))


TAU_SLACK = 0.05  # a convention: a cheaper record buys more records, worth this much tau
MIN_COMMON = 10  # architectures a candidate must share with the reference to be ranked


def _ranked_and_shared(by: dict) -> tuple[set[str], list[str], dict[str, set[str]]]:
    """The candidates the rule ranks, the architectures they all share with ``standard``
    (sorted), and each candidate's own shared set (see ``choice_scores``)."""
    ref = by.get("standard", {})
    shared = {n: {a for a in archs if a in ref} for n, archs in by.items() if n != "standard"}
    ranked = {n for n, s in shared.items() if len(s) >= MIN_COMMON}
    common: set[str] = set()
    while ranked:
        common = set.intersection(*(shared[n] for n in ranked))
        if len(common) >= MIN_COMMON:
            break
        ranked.remove(min(ranked, key=lambda n: (len(shared[n]), n)))
    return ranked, sorted(common), shared


def choice_scores(by: dict) -> tuple[dict[str, tuple[float, float, int]], dict[str, int]]:
    """What the rule compares: per ranked candidate, its 1-day tau against ``standard`` and
    its CPU-seconds per record, both over the architectures that every ranked candidate
    shares with the reference. A tau over other networks, or a cost over cheaper ones,
    would compare panels rather than fidelities (the reference is measured cheapest first,
    so a candidate measured on its first rows alone would look cheap). Candidates sharing
    fewer than ``MIN_COMMON`` architectures with the reference wait, fewest first, until
    the shared set holds ``MIN_COMMON``; they come back as ``pending`` with their counts."""
    ref = by.get("standard", {})
    ranked, archs, shared = _ranked_and_shared(by)
    scores = {}
    for n in sorted(ranked):
        t = _tau([_seed_mean_day(by[n][a]) for a in archs], [_seed_mean_day(ref[a]) for a in archs])
        recs = [r for a in archs for r in by[n][a].values()]
        paid = _paid(recs) or recs
        scores[n] = (t, sum(r["cpu_seconds"] for r in paid) / len(paid), len(archs))
    pending = {n: len(shared[n]) for n in sorted(shared) if n not in ranked}
    return scores, pending


def size_baseline(by: dict) -> float | None:
    """Tau of the parameter count alone against ``standard``'s 1-day accuracy, over the
    networks the rule compares candidates on (None before it compares any). It costs
    nothing, and a surrogate sees it as a feature: a fidelity that ranks the reference
    worse than this teaches the surrogate its own errors (undertrained large networks)
    rather than anything the architecture adds to its size."""
    _, archs, _ = _ranked_and_shared(by)
    ref = by.get("standard", {})
    if len(archs) < MIN_COMMON:
        return None
    params = [_params(ref[a]) for a in archs]
    return _tau(params, [_seed_mean_day(ref[a]) for a in archs])


def choice_pick(scores: dict[str, tuple[float, float, int]]) -> str | None:
    """The rule itself (``choose`` words it): among candidates ranked on ``MIN_COMMON`` or
    more networks, the cheapest whose tau is within ``TAU_SLACK`` of the best's."""
    ranked = {n: v for n, v in scores.items() if math.isfinite(v[0]) and v[2] >= MIN_COMMON}
    if not ranked:
        return None
    best = max(ranked, key=lambda n: ranked[n][0])
    return min((n for n in ranked if ranked[n][0] >= ranked[best][0] - TAU_SLACK), key=lambda n: ranked[n][1])


def choose(scores: dict[str, tuple[float, float, int]], pending: dict[str, int] | None = None,
           baseline: float | None = None,
           differences: list[tuple[str, str, int, float, float, float]] | None = None) -> str:
    """The collection fidelity: the cheapest candidate whose 1-day tau against `standard`
    is within ``TAU_SLACK`` of the best candidate's, among candidates that share at least
    ``MIN_COMMON`` architectures with it (rank agreement per CPU-second). The slack is a
    convention, not a test: differences this small are far inside the intervals the
    table prints, so the table is the evidence and this line only applies the rule.
    ``pending`` (candidate -> architectures shared so far) names the candidates the rule
    could not rank yet, so a choice made without them says so; ``baseline`` (the
    parameter count's tau on the same networks, ``size_baseline``) is named when the
    choice does not beat it; ``differences`` (``tau_differences``) says whether the data
    tell the pick apart from the other ranked candidates and from the parameter count."""
    wait = ""
    if pending:
        wait = "; not ranked yet: " + ", ".join(f"{n} ({k} of {MIN_COMMON} architectures)"
                                                for n, k in pending.items())
    ranked = {n: v for n, v in scores.items() if math.isfinite(v[0]) and v[2] >= MIN_COMMON}
    if not ranked:
        return (f"choice: none yet (no candidate has {MIN_COMMON} or more architectures measured at standard "
                f"too{wait})")
    best = max(ranked, key=lambda n: ranked[n][0])
    pick = choice_pick(ranked)
    assert pick is not None
    tau, cpu, n = ranked[pick]
    if pick != best:
        why = f"the best candidate, {best}, reaches {ranked[best][0]:.3f} at {ranked[best][1]:.0f} CPU-s"
    else:
        why = f"no cheaper candidate comes within {TAU_SLACK} of it"
    warn = ""
    if baseline is not None and math.isfinite(baseline) and tau <= baseline:
        warn = (f". Warning: the parameter count alone ranks the same networks at {baseline:.3f}: this "
                f"fidelity adds no ranking beyond size yet")
    apart = ""
    rivals = set(ranked) | {SIZE}
    pairs = [d for d in differences or () if pick in d[:2] and set(d[:2]) <= rivals]
    if pairs:
        # each pair as (rival, low, high) of tau(pick) - tau(rival)
        versus = [(d[1], d[4], d[5]) if d[0] == pick else (d[0], -d[5], -d[4]) for d in pairs]
        better = [r for r, lo, _ in versus if lo > 0]
        worse = [r for r, _, hi in versus if hi < 0]
        told = ([f"it ranks better than {', '.join(better)}"] if better else []) + \
               ([f"worse than {', '.join(worse)}"] if worse else [])
        apart = (f". The paired intervals say {' and '.join(told)}" if told else
                 f". No paired interval tells it apart from {', '.join(sorted(r for r, _, _ in versus))}: "
                 f"this panel cannot order them yet")
    return (f"choice: {pick} (tau 1 day vs standard {tau:.3f} over {n} architectures at {cpu:.0f} CPU-s per "
            f"record on them; {why}{wait}){warn}{apart}")


SIZE = "parameters"  # the zero-cost ranking every candidate has to beat (``size_baseline``)


def tau_differences(by: dict, within: set[str] | None = None) -> list[tuple[str, str, int, float, float, float]]:
    """Paired differences of rank agreement with the reference: for each pair of
    candidates (and each candidate against the parameter count), tau(first) - tau(second)
    against ``standard``'s seed-mean 1-day accuracy on the networks both share with it,
    with a 95 % percentile-bootstrap interval that resamples those networks once for both
    taus. The choice rule compares point taus with a slack of ``TAU_SLACK``; this says
    whether the data can tell the candidates apart at all (an interval spanning zero
    cannot). Rows: (first, second, networks, difference, low, high); pairs sharing fewer
    than 5 networks, or whose interval is undefined, are left out. ``within`` restricts
    every pair to those networks (the choice line uses the set the rule compares on, so
    its verdict and its tau are about the same panel). Seeded: reproducible."""
    import numpy as np
    from scipy.stats import kendalltau

    ref = by.get("standard", {})
    if not ref:
        return []
    target = {a: _seed_mean_day(d) for a, d in ref.items()}
    scores = {n: {a: _seed_mean_day(d) for a, d in archs.items() if a in ref}
              for n, archs in sorted(by.items()) if n != "standard"}
    scores[SIZE] = {a: float(_params(d)) for a, d in ref.items() if "params" in next(iter(d.values()))}
    names = [n for n in scores if n != SIZE] + [SIZE]
    out = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            archs = sorted(set(scores[first]) & set(scores[second]) & (within if within is not None else set(ref)))
            if len(archs) < 5:
                continue
            y = np.array([target[a] for a in archs])
            f = np.array([scores[first][a] for a in archs])
            g = np.array([scores[second][a] for a in archs])
            diff = kendalltau(f, y).statistic - kendalltau(g, y).statistic

            def paired(k: Any, f: Any = f, g: Any = g, y: Any = y) -> float:  # this pair's arrays
                return kendalltau(f[k], y[k]).statistic - kendalltau(g[k], y[k]).statistic

            boots = _bootstrap([[k] for k in range(len(archs))], paired)
            if not boots or not np.isfinite(diff):
                continue
            lo, hi = np.percentile(boots, [2.5, 97.5])
            out.append((first, second, len(archs), float(diff), float(lo), float(hi)))
    return out


def level_gaps(by: dict) -> dict[str, tuple[int, float, float, float]]:
    """Per candidate, its seed-mean 1-day accuracy minus ``standard``'s on the networks
    both measured: (networks, least gap, most gap, median gap), in points. Rank agreement
    cannot separate candidates on a small panel; a bias of level (undertrained large
    networks) can, and a surrogate fitted on the candidate learns it."""
    ref = by.get("standard", {})
    out = {}
    for n, archs in sorted(by.items()):
        if n == "standard":
            continue
        gaps = sorted(_seed_mean_day(d) - _seed_mean_day(ref[a]) for a, d in archs.items() if a in ref)
        if gaps:
            out[n] = (len(gaps), gaps[-1], gaps[0], statistics.median(gaps))
    return out


def level_report(by: dict) -> None:
    ref = by.get("standard", {})
    if not ref:
        return
    levels = sorted((_seed_mean_day(d), _params(d)) for d in ref.values())
    print(f"\nstandard at 1 day: {levels[0][0]:.1f}-{levels[-1][0]:.1f} % over {len(levels)} networks"
          + (f" ({levels[1][0]:.1f}-{levels[-1][0]:.1f} % without the lowest, {levels[0][1]:,} parameters)"
             if len(levels) > 2 else ""))
    print("\n| fidelity | archs | 1-day gap to standard, least | most | median |")
    print("|---|---:|---:|---:|---:|")
    for n, (k, least, most, median) in level_gaps(by).items():
        print(f"| {n} | {k} | {least:+.1f} | {most:+.1f} | {median:+.1f} |")


def differences_report(rows: list[tuple[str, str, int, float, float, float]]) -> None:
    if not rows:
        return
    print("\nPaired differences of tau 1 day vs standard (networks resampled once for both; an"
          " interval spanning 0 cannot order the two):\n")
    print("| first | second | archs | tau(first) - tau(second) | 95 % interval |")
    print("|---|---|---:|---:|---:|")
    for first, second, n, diff, lo, hi in rows:
        print(f"| {first} | {second} | {n} | {diff:+.3f} | [{lo:+.2f}, {hi:+.2f}] |")


def probe_report(by: dict, ref: dict) -> None:
    """Tau of cheap features (seed-averaged) against seed-averaged HWA accuracy at 1 day and
    1 month and against -AVM, at the reference fidelity and at the feature's own fidelity.
    The probe is the negated weight-noise loss increase; FP32 accuracy and the parameter
    count are the baselines it has to beat to be worth its minute."""
    print("\n| feature | measured at | target fidelity | archs | tau 1 day | tau 1 month | tau -AVM |"
          " seconds |")
    print("|---|---|---|---:|---:|---:|---:|---:|")

    def avg(recs, f):
        return sum(f(r) for r in recs) / len(recs)

    for name, archs in by.items():
        probed = {a: [r for r in d.values() if "probe" in r] for a, d in archs.items()}
        probed = {a: v for a, v in probed.items() if v}
        if not probed:
            continue
        secs = avg([r for v in probed.values() for r in v], lambda r: r["probe"]["seconds"])
        features = [(f"probe eta {eta:g}", lambda r, k=f"{eta:g}": -r["probe"][k]["loss_increase"], f"{secs:.1f}")
                    for eta in PROBE_ETAS]
        features += [("FP32 accuracy", lambda r: r["fp32"], "0"), ("parameters", lambda r: r["params"], "0")]
        for label, feature, cost in features:
            targets = [("standard", ref)] + ([(name, archs)] if name != "standard" else [])
            for target_name, target in targets:
                common = [a for a in probed if a in target]
                feat = [avg(probed[a], feature) for a in common]
                cols = []
                for t in (ONE_DAY, ONE_MONTH):
                    cols.append(_cell(feat, [avg(list(target[a].values()),
                                                 lambda r, t=t: r["mean"][r["times"].index(t)]) for a in common]))
                cols.append(_cell(feat, [-avg(list(target[a].values()), lambda r: r["avm"]) for a in common]))
                print(f"| {label} | {name} | {target_name} | {len(common)} | " + " | ".join(cols) + f" | {cost} |")


README_BEGIN = "<!-- fidelity-study: begin (python benchmarks/fidelity_study.py --readme README.md) -->"
README_END = "<!-- fidelity-study: end -->"


def _range(values: list[float], fmt: str = "{:.1f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def _coverage(by: dict) -> str:
    """Which fidelity has how many panel networks, and with which seeds."""
    parts = []
    for name, archs in by.items():
        seeds = sorted({s for d in archs.values() for s in d})
        both = sum(len(d) >= 2 for d in archs.values())
        if both == len(archs):
            which = "every one with seeds " + ", ".join(map(str, seeds))
        elif both:
            which = f"{both} with two or more seeds"
        else:
            which = "seed " + ", ".join(map(str, seeds))
        parts.append(f"`{name}` {len(archs)} ({which})")
    return ", ".join(parts)


def _findings(by: dict) -> list[str]:
    """The bullets under the tables, each number computed here from the rows and each
    verdict taken from them (so the README's prose is regenerated with its tables, never
    typed, and says nothing the rows do not)."""
    ref = by.get("standard", {})
    lines: list[str] = []
    _, common, _ = _ranked_and_shared(by)
    scores, _ = choice_scores(by)
    pick, base = choice_pick(scores), size_baseline(by)
    diffs = tau_differences(by, set(common))  # on the networks the rule compares, as the choice line
    if diffs and pick is not None:
        widths = [hi - lo for *_, lo, hi in diffs]
        apart = [d for d in diffs if d[4] > 0 or d[5] < 0]

        def pair(d: tuple) -> str:
            return f"`{d[0]}` minus `{d[1]}` {d[3]:+.3f} [{d[4]:+.2f}, {d[5]:+.2f}]"

        if not apart:
            shown = "; ".join(pair(d) for d in diffs if pick in d[:2])
            line = (f"No candidate can be told from another, nor from the parameter count, on the "
                    f"{len(common)} networks the rule compares: every paired interval spans 0, and they are "
                    f"{_range(widths, '{:.2f}')} wide (the pick's: {shown}).")
        else:
            line = (f"On the {len(common)} networks the rule compares, paired intervals that exclude 0: "
                    f"{'; '.join(pair(d) for d in apart)}; the others span 0 ({_range(widths, '{:.2f}')} wide "
                    f"over all pairs).")
        tau = scores[pick][0]
        line += f" The rule's pick, `{pick}`, is the cheapest candidate within {TAU_SLACK} tau of the best"
        if base is not None and math.isfinite(base):
            vs = next((d for d in diffs if set(d[:2]) == {pick, SIZE}), None)
            if vs is None:
                told = ""
            elif vs[4] > 0 or vs[5] < 0:
                better = (vs[4] > 0) == (vs[0] == pick)
                told = f"; the paired interval says {'better' if better else 'worse'}: {pair(vs)}"
            else:
                told = f"; the paired interval cannot tell: {pair(vs)}"
            line += (f"; its tau against the parameter count's on those networks: {tau:.3f} against "
                     f"{base:.3f}{told}.")
        else:
            line += "."
        lines.append(line)
    if len(ref) >= 3:
        levels = sorted((_seed_mean_day(d), _params(d), a) for a, d in ref.items())
        rest = [lv for lv, _, _ in levels[1:]]
        archs = sorted(ref)
        day = [_seed_mean_day(ref[a]) for a in archs]
        fp32 = [sum(r["fp32"] for r in ref[a].values()) / len(ref[a]) for a in archs]
        params = [_params(ref[a]) for a in archs]
        lines.append(
            f"The reference's own spread: apart from its lowest network ({levels[0][1]:,} parameters, "
            f"{levels[0][0]:.1f} % at 1 day), the other {len(rest)} lie within {max(rest) - min(rest):.1f} points "
            f"({min(rest):.1f}-{max(rest):.1f} %). `standard`'s own FP32 accuracy ranks its 1-day accuracy at "
            f"{_tau(fp32, day):.3f} and the parameter count at {_tau(params, day):.3f}: what a cheap fidelity adds "
            f"has to show against these two, and against a one-seed record's noise (the SE column of the noise "
            f"table).")
    gaps = level_gaps(by)
    if len(gaps) >= 2:
        order = sorted(gaps, key=lambda n: abs(gaps[n][3]))  # closest to the reference's level first
        best, worst = order[0], order[-1]

        def lands(n: str) -> str:
            k, least, most, med = gaps[n]
            side = "below" if med < 0 else "above"
            return (f"lands {min(abs(least), abs(most)):.1f}-{max(abs(least), abs(most)):.1f} points {side} "
                    f"it at 1 day on its {k} networks (median {abs(med):.1f})" if least * most >= 0 else
                    f"lands {least:+.1f} to {most:+.1f} points from it at 1 day on its {k} networks (median "
                    f"{med:+.1f})")

        wg = {a: _seed_mean_day(d) - _seed_mean_day(ref[a]) for a, d in by[worst].items() if a in ref}
        size_tau = _tau([_params(ref[a]) for a in wg], list(wg.values()))
        line = (f"`{best}` gets closest to the reference's *level*: it {lands(best)}, where `{worst}` "
                f"{lands(worst)}. A surrogate fitted on a biased fidelity learns its bias")
        if not math.isfinite(size_tau):
            line += "."
        elif size_tau < 0:
            line += (f"; `{worst}`'s falls further behind the larger the network (tau of its gap against the "
                     f"parameter count {size_tau:+.3f}), on the large networks a T500-class search is after.")
        else:
            line += (f"; `{worst}`'s varies by {abs(gaps[worst][1] - gaps[worst][2]):.1f} points between networks, "
                     f"with no sign of growing with size (tau of its gap against the parameter count "
                     f"{size_tau:+.3f}).")
        lines.append(line)
    probes = []
    for name in ("half", "quick"):
        archs = {a: [r for r in d.values() if "probe" in r] for a, d in by.get(name, {}).items() if a in ref}
        archs = {a: v for a, v in archs.items() if v}
        if len(archs) >= 5:
            day = [_seed_mean_day(ref[a]) for a in archs]
            probe = [-sum(r["probe"][f"{PROBE_ETA:g}"]["loss_increase"] for r in v) / len(v) for v in archs.values()]
            fp32 = [sum(r["fp32"] for r in v) / len(v) for v in archs.values()]
            probes.append(f"{_tau(probe, day):.3f} from `{name}` checkpoints (their FP32 accuracy "
                          f"{_tau(fp32, day):.3f})")
    if probes:
        lines.append(f"The weight-noise probe (eta {PROBE_ETA:g}, under a minute on the FP32 checkpoint) ranks "
                     f"`standard`'s 1-day accuracy at {' and '.join(probes)}; the feature table gives the "
                     f"intervals. It is kept in every record as a feature, not used as a fidelity.")
    shares, times = {}, set()
    for name, archs in by.items():
        split = [r for d in archs.values() for r in d.values() if "eval_seconds" in r]
        times |= {len(r["times"]) for r in split}
        train = sum(sum(r["train_seconds"].values()) for r in split)
        drift = sum(r["eval_seconds"] for r in split)
        if train + drift > 0:
            shares[name] = 100 * drift / (train + drift)
    cheap = [v for n, v in shares.items() if n != "standard"]
    if cheap and "standard" in shares:
        at = f"{times.pop()} drift times" if len(times) == 1 else "the rows' drift times"
        lines.append(f"Drift evaluation is {_range(cheap, '{:.0f}')} % of a cheap record's time here, "
                     f"{shares['standard']:.0f} % of a `standard` one (at {at}; a collection measures 1 s, 1 day "
                     f"and 1 month, see above).")
    return lines


def _reference_cost(by: dict, todo: list[tuple[str | None, int]]) -> str:
    """What the missing `standard` records will cost, as a README phrase ("" when no row
    says). `--order cheap` measures the cheapest networks first, so the mean of the records
    paid for so far understates what is left: each missing record is priced instead from
    its network's `quick` records (with the training a cached checkpoint saved them), scaled by the
    median `standard`/`quick` cost ratio of the networks paid for at both; a network
    without a `quick` cost is priced at the mean, and the phrase says how many were."""
    ref, quick = by.get("standard", {}), by.get("quick", {})
    paid = _paid([r for d in ref.values() for r in d.values()])
    if not paid:
        return ""
    mean = sum(r["cpu_seconds"] for r in paid) / len(paid)

    def record_cost(r: dict) -> float | None:
        # the CPU-seconds a row paid, plus the training time of a checkpoint it found cached
        # (rows since 2026-12-03 carry it); unknown for a resumed row and an old cached one
        cached = [k for k, hit in (r.get("cached") or {}).items() if hit]
        if r.get("resumed") or (cached and "train_seconds" not in r):
            return None
        return r["cpu_seconds"] + sum(r["train_seconds"][k] for k in cached)

    def quick_cost(arch: str | None) -> float | None:
        costs = [c for r in quick.get(arch, {}).values() if (c := record_cost(r))] if arch else []
        return sum(costs) / len(costs) if costs else None

    ratios = []  # one per network: its paid standard records' mean cost over its quick cost
    for arch, d in ref.items():
        mine = _paid(list(d.values()))
        if mine and (q := quick_cost(arch)):
            ratios.append(sum(r["cpu_seconds"] for r in mine) / len(mine) / q)
    by_mean = f"{len(todo) * mean / 3600:.0f}"
    if len(ratios) < 3:
        return f"; about {by_mean} CPU-hours at the {mean:,.0f} CPU-s a `standard` record has cost so far"
    ratio = statistics.median(ratios)
    costs = [quick_cost(arch) for arch, _ in todo]
    total = sum(ratio * q if q else mean for q in costs)
    unpriced = sum(q is None for q in costs)
    at_mean = f" ({unpriced} without one at the mean)" if unpriced else ""
    return (f"; about {total / 3600:.0f} CPU-hours, each priced at its network's `quick` cost{at_mean} times "
            f"{ratio:.1f}, the median `standard`/`quick` cost ratio of the {len(ratios)} networks paid for at "
            f"both (range {min(ratios):.1f}-{max(ratios):.1f}): the mean so far, {mean:,.0f} CPU-s, would say "
            f"{by_mean}, but `--order cheap` measured the cheapest networks first")


def _under_way(cache: Path) -> list[str]:
    """The `standard` trainings an epoch-resume file in ``cache`` holds, each with how far
    it got ("1817e1c6df51 (9 of 20 FP32 epochs done)"), so a machine picking the study up
    sees what resuming saves; `half` keeps its resume files there too and is left out (the
    run's key names its fidelity hash); a file that cannot be read is named without its
    epoch."""
    standard = candidates()["standard"]
    hashes = {"fp32": standard.fp32_hash(), "hwa": standard.hash()}
    out = []
    for path in sorted(cache.glob("*/*.partial.pt")):
        try:
            state = load_tensors(path)
            identity = json.loads(state["identity"])
            fidelity, key = identity["fidelity"], identity["key"]
            if key["fidelity_hash"] != hashes.get(key["mode"]):
                continue
            of = fidelity["epochs" if key["mode"] == "fp32" else "hwa_epochs"]
            out.append(f"{path.parent.name} ({int(state['epoch'])} of {of} {key['mode'].upper()} epochs done)")
        except (CheckpointError, KeyError, TypeError, ValueError):
            out.append(path.parent.name)
    return out


def _left(by: dict, panel_size: int, seeds: tuple[int, ...], cache: Path,
          panel_ids: list[str] | None = None) -> str:
    ref = by.get("standard", {})
    have = sum(s in d for d in ref.values() for s in seeds)
    missing_nets = max(0, panel_size - len(ref))
    todo = max(0, panel_size * len(seeds) - have)
    # the missing records by network: the panel's other members (from ``panel_ids``, or
    # else the cheap fidelities' rows); any not known are priced at the mean
    known = panel_ids if panel_ids is not None else sorted({a for d in by.values() for a in d})
    others = [a for a in known if a not in ref][:missing_nets]
    missing = [(a, s) for a, d in ref.items() for s in seeds if s not in d] + \
        [(a, s) for a in others for s in seeds]
    missing += [(None, s) for _ in range(missing_nets - len(others)) for s in seeds]
    under_way = _under_way(cache)
    way = f"; {', '.join(under_way)} {'is' if len(under_way) == 1 else 'are'} under way in the committed cache" \
        if under_way else ""
    if todo > 0:
        parts = ([f"{missing_nets} more panel networks"] if missing_nets else []) + \
                ([f"the other seeds of the {len(ref)} measured"] if have < len(ref) * len(seeds) else [])
        reference = (f"the `standard` reference for {' and '.join(parts)} ({todo} records, or a GPU: "
                     f"`benchmarks/gpu_reference.sh`{_reference_cost(by, missing[:todo])}{way}), then ")
    else:
        reference = "nothing of the reference (every panel network has every seed at `standard`); "
    return (f"What is left: {reference}the choice, the collection "
            f"of at least 250 records at the chosen fidelity (`analognas collect`, whose default is `quick` until "
            f"the study says otherwise; `--fidelity standard --epochs 8 --hwa-epochs 1 --train-size 30000` "
            f"collects at `half`), and the fit.")


def readme_block(args: argparse.Namespace) -> str:
    """The README's fidelity-study block: coverage, the whole ``--report``, and the
    findings and what is left, every number computed from the committed rows."""
    by = _by(read_rows(Path(args.out)))
    buf = io.StringIO()
    with redirect_stdout(buf):
        print_report(by)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    ids = [sp.arch_id for sp in panel(args.panel)]
    intro = (
        f"**Fidelity study so far** (`python benchmarks/fidelity_study.py --readme README.md` writes this block "
        f"from the committed rows; its tables are what `--report` prints; 8 programmings of the fidelity's whole "
        f"test set per record, every seed programmed on chip seed 0; each tau with its 95 % bootstrap interval "
        f"over architectures). Networks measured per fidelity: {_coverage(by)}. `half` is the `standard` schedule "
        f"cut to 8 epochs on 30,000 images and 1 HWA epoch. The reference is measured cheapest first with "
        f"`--order cheap`: processes on one machine share the output file, each row claimed by one of them, "
        f"machines split the panel with `--archs`, and checkpoints, including the epoch-resume file of a training "
        f"under way, are committed in `benchmarks/results/standard-cache/`, so another machine resumes them. The "
        f"rule names the cheapest candidate within {TAU_SLACK} tau at 1 day of the best, both taken on the "
        f"networks every ranked candidate shares with the reference, once a candidate shares {MIN_COMMON} of them "
        f"(a stated convention rather than a test); it says when the parameter count alone ranks those networks "
        f"as well, and whether the paired differences of tau (each pair of candidates, and each candidate against "
        f"the parameter count, the networks resampled once for both taus) tell the pick apart from its rivals:")
    findings = "\n".join(f"* {line}" for line in _findings(by))
    body = (f"{intro}\n\n{buf.getvalue().strip()}\n\nWhat these say, with the intervals' caution:\n\n{findings}\n\n"
            f"{_left(by, args.panel, seeds, ROOT / 'benchmarks/results/standard-cache/fashion-mnist', ids)}")
    return f"{README_BEGIN}\n{body}\n{README_END}"


def write_readme(path: Path, block: str) -> None:
    """Replace the block between the markers of ``path`` (refusing a file without them)."""
    if not path.is_file():
        raise PanelError(f"--readme {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if text.count(README_BEGIN) != 1 or text.count(README_END) != 1 or \
            text.index(README_BEGIN) > text.index(README_END):
        raise PanelError(f"--readme {path}: needs one '{README_BEGIN}' line and, after it, one '{README_END}' line")
    head, rest = text.split(README_BEGIN)
    _, tail = rest.split(README_END)
    from analognas._atomic import write_atomic

    write_atomic(path, head + block + tail, mode=None)  # a kill mid-write leaves the old README


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panel", type=int, default=20)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--only", default=None, help="measure one fidelity only (split the study over machines)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX folder (default: Debian's package)")
    ap.add_argument("--archs", default=None, help="measure these panel members only (ids or names, comma-separated)")
    ap.add_argument("--order", choices=("panel", "cheap"), default="panel",
                    help="cheap: the architectures whose recorded rows cost least first")
    ap.add_argument("--cache-dir", default=str(ROOT / "benchmarks/results/fidelity-cache"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/fidelity-study.jsonl"))
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--readme", nargs="?", const="-", default=None, metavar="FILE",
                    help="print the README block (findings included), or with FILE replace the block between its"
                         " markers")
    ap.add_argument("--merge", default=None, metavar="FILE",
                    help="append FILE's rows (another machine's) that --out lacks, then stop")
    args = ap.parse_args()
    if args.only and args.only not in candidates():
        print(f"error: --only {args.only!r}: choose one of {', '.join(candidates())}", file=sys.stderr)
        return 2
    if args.merge:
        if not Path(args.merge).is_file():
            print(f"error: --merge {args.merge}: no such file", file=sys.stderr)
            return 2
        added, skipped = merge(Path(args.out), Path(args.merge))
        print(f"merged {added} row(s) into {args.out}; {skipped} already there")
        return 0
    if args.report:
        report(args)
        return 0
    if args.readme is not None:
        if args.readme != "-" and not Path(args.readme).is_file():
            print(f"error: --readme {args.readme}: no such file", file=sys.stderr)
            return 2
        block = readme_block(args)
        if args.readme == "-":
            print(block)
            return 0
        try:
            write_readme(Path(args.readme), block)
        except (OSError, PanelError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote the fidelity-study block of {args.readme}")
        return 0
    from analognas._malloc import tune_glibc_malloc

    tune_glibc_malloc()  # as the CLI does; a no-op under the MALLOC_*_ variables of the job scripts
    try:
        measure(args)
    except PanelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
