"""Times after programming, as users type them: `1e5`, `86400`, `1h`, `1d`, `1mo`."""

from __future__ import annotations

import math

from analognas._errors import ConfigError

UNITS = {
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86_400.0,
    "w": 604_800.0,
    "mo": 2_592_000.0,
    "y": 31_536_000.0,
}
DEFAULT_TIMES = (1.0, 3600.0, 86_400.0, 2_592_000.0)
TIME_LABELS = {1.0: "1 s", 3600.0: "1 h", 86_400.0: "1 day", 2_592_000.0: "1 month", 31_536_000.0: "1 year"}


#: Ten years: the longest retention PCM drift models are fitted for; t^-nu beyond is fiction.
MAX_DRIFT_SECONDS = 10 * 365.25 * 86400


def parse_time(text: str) -> float:
    """Seconds after programming; must be finite and > 0."""
    raw = text.strip().lower()
    number, scale = raw, 1.0
    for unit in sorted(UNITS, key=len, reverse=True):
        if raw.endswith(unit) and raw[: -len(unit)].strip():
            number, scale = raw[: -len(unit)], UNITS[unit]
            break
    try:
        value = float(number) * scale
    except ValueError:
        raise ConfigError(f"drift time {text!r} is not a number (examples: 1e5, 86400, 1h, 1d, 1mo)") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"drift time must be a finite number of seconds > 0, got {text!r}")
    if value > MAX_DRIFT_SECONDS:
        raise ConfigError(
            f"drift time {text!r} is beyond 10 years ({MAX_DRIFT_SECONDS:.3g} s), where no PCM drift model is measured"
        )
    return value


def time_key(t: float) -> str:
    """JSON key of a time: plain seconds, no exponent for the usual values (2592000, not 2.592e+06)."""
    return f"{t:.12g}"


def time_flag(t: float) -> str:
    """A time as a user types it on the command line: 1s, 1h, 1d, 1mo (else seconds)."""
    for unit, s in (("mo", 2_592_000.0), ("d", 86_400.0), ("h", 3600.0), ("s", 1.0)):
        if t >= s and math.isclose(t / s, round(t / s)):
            return f"{round(t / s)}{unit}"
    return f"{t:g}s"


def label_time(t: float) -> str:
    return TIME_LABELS.get(t, f"{t:g} s")
