"""Programming, drift and drift compensation with aihwkit's own PCM physics, fast.

aihwkit simulates inference by overwriting every tile's weights with noisy conductances
(``program_analog_weights`` / ``drift_analog_weights``) and then running its unfold-based
tiles. Here the *physics calls are the same* -- ``PCMLikeNoiseModel`` (conductance
converter, programming noise, drift exponents, drift + 1/f read noise) and aihwkit's
``GlobalDriftCompensation*`` read-out math, applied per tile to the normalised weights
``W_tile / max|W_tile|`` (column-wise scaling: each column divided by its own max, as
aihwkit's ``weight_scaling_columnwise``; compensation stays one scale per tile, as
there) -- but the result is folded into effective logical weights and run through native
conv/linear (``_periphery``), and the model's own weights are never touched.

aihwkit draws from torch's global RNG. Each call is therefore wrapped in
``torch.random.fork_rng`` with a seed derived from ``(cfg.seed, repeat, purpose, t)``:
results are reproducible, independent of call order, and the global RNG is left exactly
as it was. Per-forward noise (output noise in the periphery) uses a ``torch.Generator``
seeded the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from analognas._errors import ConfigError
from analognas.analog._drift_config import Compensation, DriftEvalConfig
from analognas.analog._layers import AnalogConv2d, AnalogLinear, is_analog
from analognas.analog._noise import NoiseSource
from analognas.analog._periphery import FastTile, Periphery
from analognas.analog._plain import derive_seed, stable_hash
from analognas.analog._tile_forward import AnalogState, ProgrammedTiles, columnwise


def make_noise_model(cfg: DriftEvalConfig):  # -> PCMLikeNoiseModel
    """aihwkit's ``PCMLikeNoiseModel`` for ``cfg`` (single-pair converter, g_max)."""
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel

    return PCMLikeNoiseModel(
        g_max=cfg.g_max,
        prog_noise_scale=cfg.prog_noise_scale,
        read_noise_scale=cfg.read_noise_scale,
        drift_scale=cfg.drift_scale,
    )


def make_compensation(kind: Compensation):  # -> BaseDriftCompensation | None
    """aihwkit's compensation object for ``kind`` (None for ``NONE``)."""
    from aihwkit.inference.compensation.drift import (
        GlobalDriftCompensation,
        GlobalDriftCompensationWithExactReference,
    )

    if kind is Compensation.GLOBAL:
        return GlobalDriftCompensation()
    if kind is Compensation.GLOBAL_EXACT_REFERENCE:
        return GlobalDriftCompensationWithExactReference()
    return None


@dataclass
class _Tile:
    """One programmed crossbar (all in normalised units)."""

    layer: int
    in_tile: int
    out_tile: int
    w_max: float | torch.Tensor
    """``max|W_tile|`` at programming: the weight mapped to ``g_max`` (aihwkit mapping
    scale); under column-wise scaling a ``(columns, 1)`` tensor, one per output column."""
    reference: torch.Tensor
    """Target normalised weights ``W_tile / w_max`` (aihwkit ``reference_combined_weights``)."""
    programmed: torch.Tensor
    drift_params: list[torch.Tensor]
    baseline: torch.Tensor | None


class DriftSession:
    """Handle returned by ``analog_inference``: move the simulated chip through time."""

    def __init__(
        self,
        model: nn.Module,
        cfg: DriftEvalConfig,
        repeat: int,
        layers: list[tuple[str, AnalogConv2d | AnalogLinear]],
    ) -> None:
        self.model = model
        self.cfg = cfg
        self.repeat = repeat
        self._layers = layers
        self._noise_model = make_noise_model(cfg)
        self._compensation = make_compensation(cfg.compensation)
        self._tiles: list[_Tile] = []
        self._time: float | None = None

    @property
    def time(self) -> float | None:
        """Seconds after programming of the current weights (None right after programming)."""
        return self._time

    # -------------------------------------------------------------- programming

    @torch.no_grad()
    def _program(self) -> None:
        cfg, nm = self.cfg, self._noise_model
        readout_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, self.repeat, "baseline"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(cfg.seed, self.repeat, "program"))
            for li, (_, layer) in enumerate(self._layers):
                st: AnalogState = layer._analog
                cols = columnwise(st)
                # PCM physics runs on the CPU (aihwkit draws from the global CPU RNG, forked
                # here): the same chip whatever the model's device
                w2 = layer.weight.detach().reshape(layer.weight.shape[0], -1).float().cpu()
                for i, tile in enumerate(st.layout.in_tiles):
                    for j, (a, b) in enumerate(st.layout.out_bounds):
                        block = w2[a:b, tile.start : tile.stop]
                        w_max: float | torch.Tensor
                        if cols:
                            w_max = block.abs().amax(dim=1, keepdim=True)
                            w_max = torch.where(w_max > 0, w_max, torch.ones_like(w_max))
                        else:
                            w_max = float(block.abs().max())
                            w_max = w_max if w_max > 0 else 1.0
                        reference = block / w_max
                        programmed, drift_params = nm.apply_programming_noise(reference)
                        self._tiles.append(
                            _Tile(li, i, j, w_max, reference, programmed, drift_params, None)
                        )
        if self._compensation is not None:
            for t in self._tiles:
                p = self._layers[t.layer][1]._analog.periphery
                if cfg.compensation is Compensation.GLOBAL_EXACT_REFERENCE:
                    out = self._compensation.get_readout_tensor(t.reference.shape[1]) @ t.reference.T
                else:
                    out = _readout(t.programmed, p, self._compensation, readout_gen)
                t.baseline = self._compensation.readout(out)
        self._install([t.programmed for t in self._tiles], [1.0] * len(self._tiles), t_label="programmed")

    @torch.no_grad()
    def drift_to(self, t: float) -> None:
        """Set every tile to its state ``t`` seconds after programming, compensated."""
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise ConfigError(f"drift time must be finite and > 0 seconds, got {t!r}")
        t = float(t)
        cfg = self.cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(cfg.seed, self.repeat, "drift", t))
            drifted = [
                self._noise_model.apply_drift_noise(tile.programmed, tile.drift_params, t)
                for tile in self._tiles
            ]
        alphas = [1.0] * len(drifted)
        if self._compensation is not None:
            gen = torch.Generator().manual_seed(derive_seed(cfg.seed, self.repeat, "readout", t))
            for k, (tile, w) in enumerate(zip(self._tiles, drifted, strict=True)):
                p = self._layers[tile.layer][1]._analog.periphery
                current = _readout(w, p, self._compensation, gen)
                alphas[k] = float(self._compensation.apply(current, tile.baseline))
        self._install(drifted, alphas, t_label=t)
        self._time = t

    def _install(self, weights: list[torch.Tensor], alphas: list[float], t_label: object) -> None:
        """Fold ``w_max * alpha`` into per-input-tile effective weights and scales."""
        cfg = self.cfg
        # one noise source per time point: forward noise is reproducible per (repeat, t)
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, self.repeat, "forward", t_label))
        noise = NoiseSource(gen, cfg.noise_reuse)
        by_layer: dict[int, list[tuple[_Tile, torch.Tensor, float]]] = {}
        for tile, w, a in zip(self._tiles, weights, alphas, strict=True):
            by_layer.setdefault(tile.layer, []).append((tile, w, a))
        for li, (_, layer) in enumerate(self._layers):
            st: AnalogState = layer._analog
            layout = st.layout
            knum = layout.kernel_numel
            out_n = layout.out_features
            ranges = getattr(layer, "input_range", None)
            tile_w: list[torch.Tensor] = []
            fast: list[FastTile] = []
            entries = by_layer.get(li, [])
            cols = columnwise(st)
            for i, tile in enumerate(layout.in_tiles):
                c_span = tile.c_hi - tile.c_lo
                flat = torch.zeros(out_n, c_span * knum)
                scale = torch.empty(out_n if cols else len(layout.out_bounds))
                off = tile.start - tile.c_lo * knum
                for t_rec, w, alpha in entries:
                    if t_rec.in_tile != i:
                        continue
                    a, b = layout.out_bounds[t_rec.out_tile]
                    gain = t_rec.w_max * alpha
                    flat[a:b, off : off + tile.size] = w * gain
                    if cols:
                        scale[a:b] = gain.reshape(-1)  # type: ignore[union-attr]
                    else:
                        scale[t_rec.out_tile] = gain
                shape = (out_n, c_span, *layout.kernel) if layout.kernel else (out_n, c_span)
                dtype, device = layer.weight.dtype, layer.weight.device
                w_eff = flat.view(shape).to(device=device, dtype=dtype)
                scale = scale.to(device)
                tile_w.append(w_eff)
                r = None if ranges is None else ranges.detach()[i : i + 1].clone()
                if scale.numel() == 1 or cols:
                    s = scale.to(dtype)
                else:
                    s = scale[st.out_index.to(device)].to(dtype)
                fast.append(FastTile.build(w_eff, r, s if r is None else s * r, st.periphery))
            folded = None
            p: Periphery = st.periphery
            if not p.clip_input and not p.touches_output and p.d_in == 0:
                folded = _assemble(layer, tile_w)
            st.program = ProgrammedTiles(tile_w, fast, noise, folded)

    # -------------------------------------------------------------- inspection

    @torch.no_grad()
    def effective_weight(self, name: str) -> torch.Tensor:
        """The weight the chip currently realises for layer ``name`` (logical units,
        compensation included), shaped like the layer's weight."""
        for layer_name, layer in self._layers:
            if layer_name == name:
                prog = layer._analog.program
                assert prog is not None
                return prog.folded.clone() if prog.folded is not None else _assemble(layer, prog.weights)
        raise ConfigError(f"no analog layer named {name!r}")


def _assemble(layer: AnalogConv2d | AnalogLinear, tile_weights: list[torch.Tensor]) -> torch.Tensor:
    """Sum per-input-tile weights (each spanning its channels) into one full weight."""
    full = torch.zeros_like(layer.weight)
    for tile, w in zip(layer._analog.layout.in_tiles, tile_weights, strict=True):
        full[:, tile.c_lo : tile.c_hi] += w
    return full


def _readout(w: torch.Tensor, p: Periphery, compensation, gen: torch.Generator) -> torch.Tensor:
    """aihwkit ``_forward_drift_readout_tensor``: one-hot inputs through the tile's
    forward periphery (DAC of 1.0 is exact; output noise; ADC), no input range."""
    out = compensation.get_readout_tensor(w.shape[1]) @ w.T
    if p.out_noise > 0:
        out.add_(torch.randn(out.shape, generator=gen), alpha=p.out_noise)
    if p.d_out > 0:
        out.div_(p.d_out).round_().mul_(p.d_out)
    bound = p.out_bound if p.out_bound > 0 else math.inf
    return out.clamp_(-bound, bound)


def _check_calibrated(name: str, layer: nn.Module) -> None:
    ranges = getattr(layer, "input_range", None)
    if ranges is None:
        return
    ir = layer._analog.recipe.input_range
    if ir.init_from_data > 0 and bool((layer.input_range_init_count == 0).any()):
        raise ConfigError(
            f"input ranges of layer {name!r} were never initialised from data; "
            "train the model or call calibrate_input_ranges(model, batches) first"
        )


@contextmanager
def analog_inference(model: nn.Module, cfg: DriftEvalConfig, repeat: int = 0) -> Iterator[DriftSession]:
    """Program ``model``'s analog layers once (chip number ``repeat``) and yield a session.

    Inside, the model is in ``eval()`` mode and its analog layers compute with the
    programmed weights; ``session.drift_to(t)`` moves them to time ``t``. On exit the
    original weights (bit-exact copies) and every module's train/eval flag are restored.
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
        raise ConfigError(f"repeat must be an integer >= 0, got {repeat!r}")
    layers = [(name, m) for name, m in model.named_modules() if is_analog(m)]
    if not layers:
        raise ConfigError("model has no analog layers; convert it with to_analog(model, recipe) first")
    for name, layer in layers:
        _check_calibrated(name, layer)
        if layer._analog.program is not None:
            raise ConfigError(f"layer {name!r} is already inside an analog_inference session")
    modes = [(m, m.training) for m in model.modules()]
    saved = [layer.weight.detach().clone() for _, layer in layers]
    session = DriftSession(model, cfg, repeat, layers)
    model.eval()
    try:
        session._program()
        yield session
    finally:
        with torch.no_grad():
            for (_, layer), w in zip(layers, saved, strict=True):
                layer._analog.program = None
                layer.weight.copy_(w)
        for m, mode in modes:
            m.training = mode


@dataclass(frozen=True)
class DriftResult:
    """Accuracy of one model under one ``DriftEvalConfig``."""

    config_hash: str
    times: tuple[float, ...]
    accuracy: tuple[tuple[float, ...], ...]
    """``accuracy[repeat][time_index]`` in [0, 1]."""

    @property
    def mean(self) -> tuple[float, ...]:
        n = len(self.accuracy)
        return tuple(sum(row[k] for row in self.accuracy) / n for k in range(len(self.times)))

    @property
    def std(self) -> tuple[float, ...]:
        """Sample std over repeats (0 for a single repeat)."""
        n = len(self.accuracy)
        if n < 2:
            return tuple(0.0 for _ in self.times)
        means = self.mean
        return tuple(
            math.sqrt(sum((row[k] - means[k]) ** 2 for row in self.accuracy) / (n - 1))
            for k in range(len(self.times))
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "config_hash": self.config_hash,
            "times": list(self.times),
            "accuracy": [list(r) for r in self.accuracy],
            "mean": list(self.mean),
            "std": list(self.std),
        }


@torch.no_grad()
def drift_accuracy(
    model: nn.Module,
    cfg: DriftEvalConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 256,
    repeats: Iterable[int] | None = None,
) -> DriftResult:
    """Top-1 accuracy on ``(x, y)`` at every ``cfg.times`` for ``cfg.repeats`` chips."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    rows = []
    for r in repeats if repeats is not None else range(cfg.repeats):
        pick = cfg.chip_images(r, len(x))
        xs, ys = (x, y) if pick is None else (x[pick], y[pick])
        with analog_inference(model, cfg, repeat=r) as session:
            row = []
            for t in cfg.times:
                session.drift_to(t)
                correct = 0
                for k in range(0, len(xs), batch_size):
                    logits = model(xs[k : k + batch_size])
                    correct += int((logits.argmax(1) == ys[k : k + batch_size]).sum())
                row.append(correct / len(xs))
            rows.append(tuple(row))
    return DriftResult(stable_hash(cfg.to_dict()), cfg.times, tuple(rows))
