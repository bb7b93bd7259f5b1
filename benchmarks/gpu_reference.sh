#!/usr/bin/env bash
# The fidelity study's `standard` reference on a lent GPU machine, within a time budget.
# Several processes share the study's output file on the one GPU (each row is claimed by
# one of them; the smallest networks first), each training and measuring a whole
# network; at the budget they are stopped, and what they finished (rows) and began
# (checkpoints, epoch-resume files) comes back in $OUT/reference.tgz: the checkpoints
# unpack over the checkout (a CPU machine resumes the trainings cut off), the new rows
# are appended to the study's file. Untested on a GPU so far (none was lent): the
# plumbing ran on the CPU here (benchmarks/gpu_carry.sh's aihwkit subset included).
#   here:   bash benchmarks/gpu_carry.sh
#   device: run(command="bash benchmarks/gpu_reference.sh 420 8", carry=[".gpu"], timeout_s=540)
#   here:   tar xzf <files_at>/reference.tgz --skip-old-files   (a local file is never replaced)
#           .venv/bin/python benchmarks/fidelity_study.py --merge gpu-reference-logs/new-rows.jsonl
#           .venv/bin/python benchmarks/fidelity_study.py --report
# ARCHS=id,id,... restricts the run to those panel members (leave out what CPU jobs measure).
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${1:-420}
procs=${2:-8}
out=${OUT:-benchmarks/results/gpu}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONPATH="$PWD/.gpu/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [[ ! -d .gpu/fashion-mnist ]]; then
    echo "error: .gpu/ is missing: run benchmarks/gpu_carry.sh here and carry .gpu" >&2
    exit 2
fi
device=$("$py" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')") || {
    echo "error: $py cannot import torch" >&2; exit 2; }
[[ "$device" == cuda ]] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
rows=benchmarks/results/fidelity-study.jsonl
before=$(wc -l < "$rows")
stamp=$(mktemp)
touch "$stamp"
# $OUT brings back at most 8 files: the logs travel inside the archive (git-ignored there)
logs=$(mktemp -d)/gpu-reference-logs
mkdir -p "$logs"
for i in $(seq "$procs"); do
    timeout --signal=KILL "$budget" "$py" benchmarks/fidelity_study.py --only standard --order cheap \
        --seeds 0,1 --device "$device" --data-dir .gpu/fashion-mnist ${ARCHS:+--archs "$ARCHS"} \
        --cache-dir benchmarks/results/standard-cache > "$logs/proc-$i.log" 2>&1 &
    sleep 2  # staggered, so the first rows claimed are the cheapest
done
wait
cat "$logs"/proc-*.log | grep -v '^$' | tail -n 40
# finished files only: a writer killed mid-write leaves a hidden temp file behind
find benchmarks/results/standard-cache -type f -newer "$stamp" ! -name '.*' > "$stamp.list"
# only the rows written here: the checkout's own file may have grown meanwhile, so they
# are appended there, never copied over it
tail -n +"$((before + 1))" "$rows" > "$logs/new-rows.jsonl"
tar czf "$out/reference.tgz" -T "$stamp.list" -C "$(dirname "$logs")" gpu-reference-logs
echo "gpu_reference: $(wc -l < "$logs/new-rows.jsonl") new rows and $(wc -l < "$stamp.list") checkpoint files" \
    "in $out/reference.tgz"
cut -c1-120 "$logs/new-rows.jsonl"
