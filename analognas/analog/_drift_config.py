"""Settings of a PCM drift evaluation (what happens to the weights after programming)."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from analognas._errors import ConfigError
from analognas.analog._plain import _from_plain, _to_plain, derive_seed, stable_hash


class Compensation(enum.StrEnum):
    """Global drift compensation: one digital scale per tile, refreshed at each time.

    The scale is ``reference / current`` of ``mean|y|`` for one-hot reads of the tile
    (aihwkit ``GlobalDriftCompensation*``); the current read always goes through the
    noisy, quantised periphery, the reference read differs.
    """

    NONE = "none"
    """No compensation: conductance decay shrinks every output."""
    GLOBAL = "global"
    """Reference read right after programming, through the same noisy periphery
    (aihwkit ``GlobalDriftCompensation``): what a chip can measure."""
    GLOBAL_EXACT_REFERENCE = "global_exact_reference"
    """Reference computed from the ideal target weights (aihwkit
    ``GlobalDriftCompensationWithExactReference``): needs the target known off-chip."""


DEFAULT_TIMES: tuple[float, ...] = (1.0, 3600.0, 86400.0, 2592000.0)
"""1 second, 1 hour, 1 day and 30 days after programming."""


MAX_REPEATS = 1000


@dataclass(frozen=True)
class DriftEvalConfig:
    """Which times, how many independent chips (repeats), which device physics."""

    times: tuple[float, ...] = DEFAULT_TIMES
    """Seconds after programming at which the model is read (each finite and > 0)."""
    repeats: int = 5
    """Independent programmings (chips); accuracy is reported as mean and std over them."""
    g_max: float = 25.0
    """Conductance in uS that each tile's ``max|w|`` is programmed to (PCMLikeNoiseModel)."""
    compensation: Compensation = Compensation.GLOBAL
    """Drift compensation. ``GLOBAL`` by evidence: on a Fashion-MNIST CNN (10k/2k images,
    20 chips, paired: both options see the same programmed and drifted devices) it beat
    ``GLOBAL_EXACT_REFERENCE`` at 30 days by +0.55 +- 0.23 points (HWA-trained) and
    +1.11 +- 0.57 (FP32 direct) with a smaller chip-to-chip spread, tied at 1 h and 1 day,
    and lost at 1 s by 0.21 +- 0.15 / 0.58 +- 0.15: reading the reference through the
    same quantised periphery cancels the ADC's bias on ``mean|y|``. It is also the one a
    chip can measure itself."""
    seed: int = 0
    """Root seed: programming, drift, read noise and per-forward noise all derive from it."""
    prog_noise_scale: float = 1.0
    """Multiplier on PCM programming noise (0 turns it off)."""
    read_noise_scale: float = 1.0
    """Multiplier on PCM 1/f read noise (0 turns it off)."""
    drift_scale: float = 1.0
    """Multiplier on the drift exponents nu (0 turns drift off)."""
    noise_reuse: int = 4
    """Output-noise bank reuse factor (see ``NoiseSource``): every tile output gets exactly
    iid Gaussian noise, samples are reused ~this many times across tile calls at random
    offsets; 1 = fresh samples every call (exact joint law, ~2x slower forward)."""
    images_per_chip: int | None = field(default=None, metadata={"since": 2})
    """Test images each programming is read on: a random subset of the test set drawn
    anew for each chip (seeded by ``seed`` and the chip), the same subset at every time
    of that chip, so a chip's drift curve and AVM stay paired. ``None`` reads the whole
    test set with every chip. Briefly trained networks (``quick``) differ between chips by
    0.5 to 11 points at 1 day (4.7 root mean square) against about 1 point that a
    1,000-image subset adds, so there a fixed evaluation budget spent on more chips with
    fewer images each gives a less noisy record; ResNet32 and T500 at ``standard`` differ
    by 0.15-0.33 points and are mostly better read whole (``benchmarks/chip_budget.py``). The
    ``spread`` over chips then holds the subsets' sampling noise too. Left out of the
    hash while ``None``."""

    def __post_init__(self) -> None:
        times = self.times
        if isinstance(times, (int, float)):
            times = (times,)
        try:
            times = tuple(float(t) for t in times)
        except (TypeError, ValueError):
            raise ConfigError(f"drift times must be numbers, got {self.times!r}") from None
        object.__setattr__(self, "times", times)
        if not times:
            raise ConfigError("drift times must not be empty")
        bad = [t for t in times if not (math.isfinite(t) and t > 0)]
        if bad:
            raise ConfigError(f"drift times must be finite and > 0 seconds, got {bad[0]!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise ConfigError(f"repeats must be an integer >= 1, got {self.repeats!r}")
        if self.repeats > MAX_REPEATS:
            raise ConfigError(
                f"repeats {self.repeats} is over the limit of {MAX_REPEATS}"
                " (each programming re-evaluates the whole test set at every time)"
            )
        if not (math.isfinite(self.g_max) and self.g_max > 0):
            raise ConfigError(f"g_max must be finite and > 0 uS, got {self.g_max!r}")
        if isinstance(self.noise_reuse, bool) or not isinstance(self.noise_reuse, int) or self.noise_reuse < 1:
            raise ConfigError(f"noise_reuse must be an integer >= 1, got {self.noise_reuse!r}")
        n = self.images_per_chip
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ConfigError(f"images_per_chip must be an integer >= 1 or None, got {n!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        for name in ("prog_noise_scale", "read_noise_scale", "drift_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be finite and >= 0, got {value!r}")
        try:
            object.__setattr__(self, "compensation", Compensation(self.compensation))
        except ValueError:
            valid = [c.value for c in Compensation]
            raise ConfigError(f"compensation must be one of {valid}, got {self.compensation!r}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftEvalConfig:
        """Inverse of ``to_dict``; unknown keys raise ``ConfigError``."""
        return _from_plain(cls, data, "drift config")

    def hash(self) -> str:
        """Short stable hash of the canonical JSON (12 hex chars)."""
        return stable_hash(self.to_dict())

    def chip_images(self, repeat: int, n_test: int) -> list[int] | None:
        """Indices of the test images chip ``repeat`` is read on (sorted), or None for all
        of them (``images_per_chip`` unset or not below ``n_test``)."""
        if self.images_per_chip is None or self.images_per_chip >= n_test:
            return None
        import random

        rng = random.Random(derive_seed(self.seed, repeat, "images"))
        return sorted(rng.sample(range(n_test), self.images_per_chip))
