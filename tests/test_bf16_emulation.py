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
    """Outside bf16 autocast the context changes nothing (bit-identical FP32 results);
    linear layers keep autocast's own kernels; `emulate=False` is a no-op."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 3, 8, 8, generator=g), torch.randn(4, 3, 3, 3, generator=g)
    with bf16_convolutions(True):
        assert torch.equal(F.conv2d(x, w), F.conv2d(x, w))
        a = torch.randn(5, 7, generator=g)
        lin = torch.randn(3, 7, generator=g)
        with torch.autocast("cpu", dtype=BF16):
            inside = F.linear(a, lin)
    with torch.autocast("cpu", dtype=BF16):
        assert torch.equal(inside, F.linear(a, lin))
        with bf16_convolutions(False):
            native = F.conv2d(x, w)
        with bf16_convolutions(True):
            emulated = F.conv2d(x, w)
    assert native.dtype == emulated.dtype == BF16
    assert not torch.equal(F.conv2d(x, w), emulated.float())  # FP32 results are not bf16 ones
    assert torch.equal(emulated, emulated_bf16_conv2d(x, w))


def test_emulation_is_chosen_for_bf16_on_cpus_without_bf16_kernels(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import analognas._device as device_mod

    for native in (True, False):
        monkeypatch.setattr(device_mod, "native_bf16", lambda native=native: native)
        assert needs_bf16_emulation("bf16", torch.device("cpu")) is (not native)
        assert not needs_bf16_emulation("fp32", torch.device("cpu"))
        assert not needs_bf16_emulation("bf16", torch.device("cuda"))


def test_training_records_which_kernels_computed_its_bf16(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The FP32 checkpoint's metrics say "emulated" or "native"; the checkpoint key is the
    same either way (the arithmetic, and so the measurement, is the same)."""
    import analognas._device as device_mod
    from analognas.data import load_dataset
    from analognas.space import ArchSpec, StageSpec
    from analognas.training import DATA_SEED, CheckpointStore, ensure_fp32, get_fidelity
    from analognas.training._pipeline import checkpoint_key

    tiny = get_fidelity("quick").with_overrides(train_size=64, test_size=32, epochs=1, batch_size=32)
    ds = load_dataset("fashion-mnist", train_size=64, test_size=32, seed=DATA_SEED)
    spec = ArchSpec(8, 3, (StageSpec(4, 1),), name="w4")
    seen = []
    for seed, native in ((0, False), (1, True)):
        monkeypatch.setattr(device_mod, "native_bf16", lambda native=native: native)
        model, meta, cached = ensure_fp32(spec, ds, tiny, seed, CheckpointStore(tmp_path / str(seed)), None, "cpu")
        assert not cached and meta["metrics"]["bf16_convolutions"] == ("native" if native else "emulated")
        assert all(torch.isfinite(p).all() for p in model.parameters())
        seen.append(checkpoint_key(spec, ds.name, "fp32", None, tiny, 0))
    assert seen[0] == seen[1]
    fp32 = get_fidelity("low")
    _, meta, _ = ensure_fp32(spec, load_dataset("fashion-mnist", train_size=64, test_size=32, seed=DATA_SEED),
                             fp32.with_overrides(train_size=64, test_size=32, epochs=1, batch_size=32), 0,
                             CheckpointStore(tmp_path / "fp32"), None, "cpu")
    assert "bf16_convolutions" not in meta["metrics"]
