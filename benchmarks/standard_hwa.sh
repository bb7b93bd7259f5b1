#!/usr/bin/env bash
# HWA fine-tuning at protocol v2's `standard` fidelity, one thread each, resumable: each job
# starts from the FP32 checkpoint in the same cache (trained first if missing) and a finished
# HWA checkpoint is reused, so re-running only trains what is missing.
#   RECIPE=hwa-v2 bash benchmarks/standard_hwa.sh [ARCH:SEED ...]   default: resnet32:0
#   RECIPE may be a preset name or a recipe JSON file (e.g. the all-analog variant).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=1
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
cache=${ANALOGNAS_CACHE:-benchmarks/results/standard-cache}
recipe=${RECIPE:-hwa-v2}
jobs=("$@")
((${#jobs[@]})) || jobs=(resnet32:0)
for job in "${jobs[@]}"; do
    arch=${job%%:*} seed=${job##*:}
    echo "== $(date -u +%FT%TZ) hwa $recipe $arch seed $seed"
    .venv/bin/analognas train "$arch" --mode hwa --recipe "$recipe" --fidelity standard --seed "$seed" --cache-dir "$cache" -q --json
done
