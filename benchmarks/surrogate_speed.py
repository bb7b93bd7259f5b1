"""How fast the search can ask the surrogate: load time and architectures per second.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/surrogate_speed.py [--surrogate NAME] [--batch 10000] [--json]

With `--surrogate` the given fitted surrogate is timed. Without it, one surrogate per
model kind is fitted on the `resnet_like` encoding of `--train` sampled architectures with
made-up targets (a smooth function of the features): its predictions mean nothing, only
its speed is measured, and the output says so. Timed, per model kind:

* `load_s`: `load_surrogate` of the saved JSON (parse, deterministic refit, self-check);
* `predict_per_s`: architectures per second through `Surrogate.predict` on a batch of
  fresh specs, encoding included (best of `--repeats`);
* `encode_per_s`: the encoding alone, and the reference `analognas.space.encode_many`;
* whether `torch` was imported (it must not be).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from analognas.space import encode_many, load_space
from analognas.surrogate import MODEL_KINDS, FeatureSchema, Surrogate, load_surrogate, save_surrogate
from analognas.surrogate._fit import fit_targets


def _best(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _speed_only_surrogate(kind: str, space_name: str, n_train: int, folder: Path) -> Path:
    space = load_space(space_name)
    schema = FeatureSchema.from_space(space)
    X = schema.encode(space.sample(np.random.default_rng(1), n_train))
    y = {"accuracy": 60 + 5 * X[:, 8] - 0.1 * X[:, 3], "avm": 1 + 0.5 * X[:, 0] + 0.1 * X[:, 10],
         "spread": 0.3 + 0.05 * X[:, 4]}
    models = fit_targets(schema, X, y, folds=3, seed=0, models=(kind,), feature_sets=("full",))
    meta = {"n_records": n_train, "n_architectures": n_train, "note": "synthetic targets: speed benchmark only",
            "fidelity": {"name": "none"}}
    return save_surrogate(Surrogate(schema, 86_400.0, X, y, models, meta), folder / f"speed-{kind}.json")


def measure(path: Path, batch: int, repeats: int) -> dict[str, float | str | bool]:
    load_s = _best(lambda: load_surrogate(path), repeats)
    sur = load_surrogate(path)
    space = load_space(sur.space_name)
    specs = space.sample(np.random.default_rng(2), batch)
    predict_s = _best(lambda: sur.predict(specs), repeats)
    encode_s = _best(lambda: sur.encode(specs), repeats)
    ref = specs[: min(batch, 2000)]
    ref_s = _best(lambda: encode_many(ref, space.max_stages, space.input_shape, space.num_classes,
                                      space.constraints.tile_size), 1)
    return {
        "models": ",".join(sorted({m.kind for m in sur.models.values()})),
        "load_s": round(load_s, 4),
        "predict_per_s": round(batch / predict_s),
        "encode_per_s": round(batch / encode_s),
        "reference_encode_per_s": round(len(ref) / ref_s),
        "torch_imported": "torch" in sys.modules,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--surrogate", help="a fitted surrogate (name or path); default: speed-only fits per model")
    ap.add_argument("--space", default="resnet_like")
    ap.add_argument("--train", type=int, default=200, help="training rows of the speed-only fits")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    if args.surrogate:
        results["given"] = measure(Path(load_surrogate(args.surrogate).path), args.batch, args.repeats)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for kind in MODEL_KINDS:
                path = _speed_only_surrogate(kind, args.space, args.train, Path(tmp))
                results[kind] = measure(path, args.batch, args.repeats)
    out = {"batch": args.batch, "targets": "given surrogate" if args.surrogate else "synthetic (speed only)",
           "results": results}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"batch of {args.batch:,} fresh specs, best of {args.repeats}; targets: {out['targets']}")
    for name, r in results.items():
        print(f"{name:14s} load {r['load_s'] * 1000:7.1f} ms   predict {r['predict_per_s']:>8,}/s (with encoding)   "
              f"encode {r['encode_per_s']:>8,}/s (reference {r['reference_encode_per_s']:,}/s)   "
              f"torch imported: {r['torch_imported']}")


if __name__ == "__main__":
    main()
