#!/usr/bin/env bash
# Protocol v2's classic AIMC figure: FP32, HWA and direct mapping of ResNet32 on
# Fashion-MNIST at `standard`, 10 programmings, from 1 s to 1 month after programming.
# Trains what is missing (resumable through the cache), then writes the HTML figure and
# `benchmarks/results/seed-figure-<arch>-fashion-mnist[-<recipe>].json` in `compare`'s format.
#   bash benchmarks/seed_figure.sh [ARCH] [RECIPE]     defaults: resnet32 hwa-v2
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=1
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
arch=${1:-resnet32}
recipe=${2:-hwa-v2}
cache=${ANALOGNAS_CACHE:-benchmarks/results/standard-cache}
suffix=$([[ "$recipe" == hwa-v2 ]] && echo "" || echo "-$recipe")
out=benchmarks/results/seed-figure-${arch,,}-fashion-mnist${suffix}.html
echo "== $(date -u +%FT%TZ) seed figure $arch $recipe -> $out"
.venv/bin/analognas compare "$arch" --fidelity standard --recipe "$recipe" --repeats 10 \
    --cache-dir "$cache" --out "$out" --force -q
