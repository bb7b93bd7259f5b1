#!/usr/bin/env bash
# GPU check of protocol v2 (run where a CUDA GPU exists; says "no GPU" otherwise):
#  1. the same programmed chip on CPU and CUDA: logits agree, accuracies agree;
#  2. an HWA training step (weight noise, input ranges, DAC/ADC, output noise) runs on CUDA;
#  3. median step times of FP32 and HWA training of ResNet32 on CUDA and on the CPU;
#  4. the ResNet32 equivalence check against aihwkit's tiles with the fast path on CUDA.
#   bash benchmarks/gpu_check.sh [OUT_DIR]      (default benchmarks/results/gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
# the project's venv where it exists, else $PYTHON or python3 (a GPU machine's own torch;
# the project's other dependencies must be importable by it, e.g. installed from wheels)
py=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
if ! "$py" -c "import torch" 2>/dev/null; then
    echo "error: $py cannot import torch; set PYTHON to an interpreter that can" >&2
    exit 2
fi
if ! "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "no GPU: torch $("$py" -c 'import torch; print(torch.__version__)') sees no CUDA device; nothing to check"
    exit 0
fi
if ! err=$("$py" -c "import analognas.analog, analognas.training" 2>&1); then
    echo "error: $py cannot import analognas here: $(echo "$err" | tail -n 1)" >&2
    exit 2
fi
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
"$py" - "$out" <<'PY'
import json, statistics, sys, time
import torch
from analognas.analog import DriftEvalConfig, analog_inference, calibrate_input_ranges, clip_weights_, get_recipe, to_analog
from analognas.data import load_dataset
from analognas.models import create

out = sys.argv[1]
report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
ds = load_dataset("fashion-mnist", train_size=2000, test_size=1000, seed=0)
torch.manual_seed(0)
net = create("resnet32", (1, 28, 28), 10).eval()
model = to_analog(net, get_recipe("hwa-v2"))
calibrate_input_ranges(model, ds.train.x[:512])
cfg = DriftEvalConfig(times=(86400.0,), repeats=1)
x = ds.test.x[:500]
with analog_inference(model, cfg) as s, torch.no_grad():
    s.drift_to(86400.0)
    cpu = model(x)
model.cuda()
with analog_inference(model, cfg) as s, torch.no_grad():
    s.drift_to(86400.0)
    gpu = model(x.cuda()).cpu()
report["same_chip_max_logit_diff"] = float((cpu - gpu).abs().max())
report["same_chip_argmax_agreement"] = float((cpu.argmax(1) == gpu.argmax(1)).float().mean())

def step_time(m, device, n=20):
    m = m.to(device).train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    xb, yb = ds.train.x[:128].to(device), ds.train.y[:128].to(device)
    ts = []
    for i in range(n + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(xb), yb).backward()
        opt.step()
        clip_weights_(m)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts)

for name, dev in (("cuda", torch.device("cuda")), ("cpu", torch.device("cpu"))):
    report[f"fp32_step_s_{name}"] = step_time(create("resnet32", (1, 28, 28), 10), dev, 10 if name == "cpu" else 30)
    hwa = to_analog(create("resnet32", (1, 28, 28), 10), get_recipe("hwa-v2"))
    calibrate_input_ranges(hwa, ds.train.x[:512])
    report[f"hwa_step_s_{name}"] = step_time(hwa, dev, 5 if name == "cpu" else 30)
print(json.dumps(report, indent=1))
open(f"{out}/gpu-check.json", "w").write(json.dumps(report, indent=1) + "\n")
PY
"$py" benchmarks/equivalence_resnet.py --device cuda --repeats 10 --test-size 1000 --out "$out/equivalence-resnet32-cuda.json"
