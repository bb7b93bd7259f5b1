#!/usr/bin/env bash
# Prepare .gpu/ (git-ignored), what a lent GPU machine lacks for benchmarks/gpu_reference.sh:
# Fashion-MNIST's IDX files (31 MB) and the pure-Python modules of aihwkit that PCM
# programming, drift and compensation import (about 70 KB: aihwkit.inference and what it
# imports; no compiled simulator). The machine's own python3 brings torch and numpy, and
# the checkout itself brings analognas. The repository (33 MB) and .gpu/ together stay
# under the device tool's 64 MiB: name ".gpu" in the run's carry.
#   bash benchmarks/gpu_carry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
data=${DATA_DIR:-/usr/share/datasets/fashion-mnist}
rm -rf .gpu && mkdir -p .gpu/fashion-mnist .gpu/site
cp "$data"/*-ubyte.gz .gpu/fashion-mnist/
"$py" - <<'PY'
"""Copy every aihwkit module a drift evaluation loads, found by running one."""
import shutil, sys
from pathlib import Path

import torch
from torch import nn

from analognas.analog import DriftEvalConfig, calibrate_input_ranges, drift_accuracy, get_recipe, to_analog

net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
model = to_analog(net, get_recipe("hwa-v2"))
x = torch.randn(8, 1, 28, 28)
calibrate_input_ranges(model, x)
drift_accuracy(model, DriftEvalConfig(repeats=1), x, torch.zeros(8, dtype=torch.long))
loaded = sorted(k for k in sys.modules if k == "aihwkit" or k.startswith("aihwkit."))
if any("rpu_base" in k for k in loaded):
    sys.exit("error: the drift evaluation loaded aihwkit's compiled simulator; it cannot travel")
root = Path(sys.modules["aihwkit"].__file__).parent.parent
for name in loaded:
    src = Path(sys.modules[name].__file__)
    dst = Path(".gpu/site") / src.relative_to(root)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    for data in src.parent.glob("*.txt"):  # VERSION.txt, read by aihwkit/version.py
        shutil.copy2(data, dst.parent / data.name)
print(f"{len(loaded)} aihwkit modules copied")
PY
# what travels: tracked and untracked-not-ignored files, plus .gpu (the device tool's limit: 64 MiB)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null \
    | awk '{s += $1} END {print s + 0}' || true)
carry=$(du -sb .gpu | cut -f1)
total=$((tree + carry))
echo "gpu_carry: .gpu/ $((carry / 1048576)) MiB + working tree $((tree / 1048576)) MiB = $((total / 1048576)) MiB"
if ((total > 64 * 1048576)); then
    echo "error: over the device tool's 64 MiB: the run would be refused; make the working tree smaller" >&2
    exit 2
fi
