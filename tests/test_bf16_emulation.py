"""bf16 convolutions emulated with FP32 kernels (analognas.training._bf16).

The emulation must compute bf16 autocast's arithmetic (bf16 operands, wide accumulation,
bf16 results and gradients), whatever the CPU, and must only act where it is asked to.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from analognas.training._bf16 import bf16_convolutions, emulated_bf16_conv2d, needs_bf16_emulation

BF16 = torch.bfloat16


def _ideal(x, w, b, grad, **kw):  # type: ignore[no-untyped-def]
    """bf16-rounded operands, exact (FP64) accumulation, results rounded to bf16."""
    xi = x.to(BF16).double().requires_grad_()
    wi = w.to(BF16).double().requires_grad_()
    bi = None if b is None else b.to(BF16).double().requires_grad_()
    out = F.conv2d(xi, wi, bi, **kw)
    out.backward(grad.double())
    grads = [xi.grad, wi.grad] + ([] if bi is None else [bi.grad])
    return [out.detach().to(BF16).float()] + [g.to(BF16).float() for g in grads]


@pytest.mark.parametrize(
    ("cin", "cout", "k", "kw", "bias", "channels_last"),
    [
        (16, 32, 3, {"padding": 1}, False, False),
        (16, 32, 3, {"padding": 1, "stride": 2}, False, True),
        (1, 8, 3, {"padding": 1}, True, False),
        (32, 16, 1, {}, False, True),
        (8, 8, 3, {"padding": 1, "groups": 4}, True, False),
    ],
)
def test_emulated_convolution_computes_bf16_arithmetic(cin, cout, k, kw, bias, channels_last) -> None:  # type: ignore[no-untyped-def]
    """Output, input gradient, weight (and bias) gradient agree with ideal bf16 arithmetic
    bit for bit on all but a few elements (FP32 summation order), and carry bf16 dtypes
    where bf16 autocast's kernels do."""
    g = torch.Generator().manual_seed(cin * 100 + cout)
    x = torch.randn(4, cin, 12, 12, generator=g)
    w = torch.randn(cout, cin // kw.get("groups", 1), k, k, generator=g) * 0.2
    b = torch.randn(cout, generator=g) if bias else None
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
    bi = None if b is None else b.clone().requires_grad_()
    with bf16_convolutions(True), torch.autocast("cpu", dtype=BF16):
        out = F.conv2d(xi, wi, bi, **kw)
    assert out.dtype == BF16
    grad = torch.randn(out.shape, generator=g).to(BF16)
    out.backward(grad)
    ideal = _ideal(x, w, b, grad, **kw)
    got = [out.detach().float(), xi.grad, wi.grad] + ([] if bi is None else [bi.grad])
    for name, a, e in zip(("output", "grad_input", "grad_weight", "grad_bias"), got, ideal):
        assert a.dtype == torch.float32  # master copies' gradients stay FP32 ...
        assert torch.equal(a.to(BF16).float(), a), name  # ... holding bf16 values
        assert (a == e).float().mean() > 0.995, name
        assert float((a - e).norm() / e.norm()) < 1e-4, name


def test_emulation_acts_only_on_cpu_bf16_autocast_convolutions() -> None:
    """Outside bf16 autocast (none, or fp16) the context changes nothing (bit-identical
    results and dtypes); linear layers keep autocast's own kernels; `emulate=False` is a
    no-op; keyword arguments reach the emulation too."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 3, 8, 8, generator=g), torch.randn(4, 3, 3, 3, generator=g)
    a, lin = torch.randn(5, 7, generator=g), torch.randn(3, 7, generator=g)
    plain = F.conv2d(x, w)
    with torch.autocast("cpu", dtype=torch.float16):
        half = F.conv2d(x, w)
    with torch.autocast("cpu", dtype=BF16):
        linear = F.linear(a, lin)
        native = F.conv2d(x, w)
    with bf16_convolutions(True):
        inside = F.conv2d(x, w)
        assert inside.dtype == torch.float32 and torch.equal(inside, plain)
        with torch.autocast("cpu", dtype=torch.float16):
            assert torch.equal(F.conv2d(x, w), half)
        with torch.autocast("cpu", dtype=BF16):
            assert torch.equal(F.linear(a, lin), linear)
            emulated = F.conv2d(x, w)
            keywords = F.conv2d(input=x, weight=w, padding=1)
    with bf16_convolutions(False), torch.autocast("cpu", dtype=BF16):
        assert torch.equal(F.conv2d(x, w), native)
    assert emulated.dtype == BF16 and torch.equal(emulated, emulated_bf16_conv2d(x, w))
    assert not torch.equal(plain, emulated.float())  # FP32 results are not bf16 ones
    assert keywords.dtype == BF16 and torch.equal(keywords, emulated_bf16_conv2d(x, w, padding=1))


def test_emulation_is_chosen_for_bf16_on_cpus_without_bf16_kernels(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import analognas._device as device_mod

    for native in (True, False):
        monkeypatch.setattr(device_mod, "native_bf16", lambda native=native: native)
        assert needs_bf16_emulation("bf16", torch.device("cpu")) is (not native)
        assert not needs_bf16_emulation("fp32", torch.device("cpu"))
        assert not needs_bf16_emulation("bf16", torch.device("cuda"))


def test_training_records_which_kernels_computed_its_bf16(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A CPU without bf16 kernels trains through the emulation (and one with them does not);
    the FP32 checkpoint's metrics say "emulated" or "native" and where it was trained; the
    checkpoint is stored under the same name either way (the arithmetic, and so the
    measurement, is the same)."""
    import analognas._device as device_mod
    import analognas.training._bf16 as bf16_mod
    from analognas.data import load_dataset
    from analognas.space import ArchSpec, StageSpec
    from analognas.training import DATA_SEED, CheckpointStore, ensure_fp32, get_fidelity

    calls = []
    real = bf16_mod.emulated_bf16_conv2d
    monkeypatch.setattr(bf16_mod, "emulated_bf16_conv2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    tiny = get_fidelity("quick").with_overrides(train_size=64, test_size=32, epochs=1, batch_size=32)
    ds = load_dataset("fashion-mnist", train_size=64, test_size=32, seed=DATA_SEED)
    spec = ArchSpec(8, 3, (StageSpec(4, 1),), name="w4")
    names = []
    for native in (False, True):
        monkeypatch.setattr(device_mod, "native_bf16", lambda native=native: native)
        calls.clear()
        model, meta, cached = ensure_fp32(spec, ds, tiny, 0, CheckpointStore(tmp_path / str(native)), None, "cpu")
        assert not cached and meta["metrics"]["bf16_convolutions"] == ("native" if native else "emulated")
        assert (len(calls) > 0) is (not native)  # every convolution of every step, or none
        assert meta["metrics"]["trained_on"].startswith("cpu ")
        assert all(torch.isfinite(p).all() for p in model.parameters())
        names.append(sorted(p.relative_to(tmp_path / str(native)) for p in (tmp_path / str(native)).rglob("*.pt")))
    assert names[0] == names[1] and names[0]
    low = get_fidelity("low").with_overrides(train_size=64, test_size=32, epochs=1, batch_size=32)
    _, meta, _ = ensure_fp32(spec, ds, low, 0, CheckpointStore(tmp_path / "fp32"), None, "cpu")
    assert "bf16_convolutions" not in meta["metrics"]


def test_a_run_resumed_on_another_machine_names_both_sittings(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A run trained natively and finished with the emulation (or resumed from a file
    written before the field existed) does not claim one kind of kernel for all its epochs."""
    import analognas._device as device_mod
    from analognas.data import Split
    from analognas.models import build_model
    from analognas.space import ArchSpec, StageSpec
    from analognas.training import train_model
    from analognas.training._resume import ResumeFile

    class Killed(Exception):
        pass

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, 8, 8, generator=g)
    data = Split(x, (x.mean(dim=(1, 2, 3)) > 0).long())
    resume = ResumeFile(tmp_path / "run.partial.pt", {"run": "r"})

    def run(kill_at: int | None = None):  # type: ignore[no-untyped-def]
        def on_epoch(m, epoch):  # type: ignore[no-untyped-def]
            if epoch == kill_at:
                raise Killed
            return {}

        torch.manual_seed(1)
        model = build_model(ArchSpec(4, 3, (StageSpec(4, 1),), name="r"), (1, 8, 8), 2)
        return train_model(model, data, epochs=3, lr=0.1, batch_size=16, momentum=0.9, weight_decay=0.0, seed=0,
                           precision="bf16", on_epoch=on_epoch, resume=resume)

    monkeypatch.setattr(device_mod, "native_bf16", lambda: True)
    with pytest.raises(Killed):
        run(kill_at=3)
    monkeypatch.setattr(device_mod, "native_bf16", lambda: False)
    res = run()
    assert [r["bf16_convolutions"] for r in res.history] == ["native", "native", "emulated"]
    assert res.bf16_convolutions == "native+emulated" and res.trained_on == res.history[0]["trained_on"]
    resume.clear()  # as the pipeline does after a finished run
    with pytest.raises(Killed):
        run(kill_at=2)
    state = resume.load()
    for row in state["history"]:  # as a file written before the fields existed
        row.pop("bf16_convolutions"), row.pop("trained_on")
    resume.save(**state)
    res = run()
    assert res.bf16_convolutions == "unrecorded+emulated" and res.trained_on.startswith("unrecorded+cpu ")
