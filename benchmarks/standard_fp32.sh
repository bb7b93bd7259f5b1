#!/usr/bin/env bash
# FP32 runs of protocol v2's `standard` fidelity (the long part of the seed figure and of
# the T500-vs-ResNet32 comparison), one thread each, resumable: a finished checkpoint is
# reused from the cache, so re-running only trains what is missing.
#   bash benchmarks/standard_fp32.sh [ARCH:SEED ...]    default: resnet32:0 T500:0 resnet32:1 T500:1
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=1
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
cache=${ANALOGNAS_CACHE:-benchmarks/results/standard-cache}
jobs=("$@")
((${#jobs[@]})) || jobs=(resnet32:0 T500:0 resnet32:1 T500:1)
for job in "${jobs[@]}"; do
    arch=${job%%:*} seed=${job##*:}
    echo "== $(date -u +%FT%TZ) fp32 $arch seed $seed"
    .venv/bin/analognas train "$arch" --mode fp32 --fidelity standard --seed "$seed" --cache-dir "$cache" -q --json
done
