"""What a search optimises: predicted metrics (expensive) and hardware cost (cheap).

Objectives are declared with where their value comes from, as Archai does: `params`,
`macs` and `tiles` are computed from the spec's shape in microseconds, `accuracy` and
`avm` need the surrogate. The cheap ones double as hard constraints checked before the
surrogate is ever asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analognas._errors import ConfigError


class Direction(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass(frozen=True)
class Objective:
    name: str
    direction: Direction
    target: str | None
    """Surrogate target the value comes from; None = a cheap cost metric of the spec."""
    label: str
    unit: str = ""

    @property
    def cheap(self) -> bool:
        return self.target is None

    def better(self, a: float, b: float) -> bool:
        """True if `a` is strictly better than `b` in this objective's direction."""
        return a > b if self.direction is Direction.MAXIMIZE else a < b


OBJECTIVES: dict[str, Objective] = {
    "accuracy": Objective("accuracy", Direction.MAXIMIZE, "accuracy", "predicted accuracy after drift", "%"),
    "avm": Objective("avm", Direction.MINIMIZE, "avm", "predicted AVM (accuracy lost from 1 s to 1 month)", "points"),
    "params": Objective("params", Direction.MINIMIZE, None, "parameters"),
    "macs": Objective("macs", Direction.MINIMIZE, None, "MACs"),
    "tiles": Objective("tiles", Direction.MINIMIZE, None, "analog tiles"),
}
DEFAULT_OBJECTIVES = ("accuracy",)


def parse_objectives(text: str | list[str] | tuple[str, ...] | None) -> tuple[Objective, ...]:
    """`accuracy,avm,params` (or a list) -> objectives; the first one ranks "best"."""
    if text is None:
        names: list[str] = list(DEFAULT_OBJECTIVES)
    elif isinstance(text, str):
        names = [n.strip().lower() for n in text.split(",") if n.strip()]
    else:
        names = [n.strip().lower() for part in text for n in part.split(",") if n.strip()]
    if not names:
        raise ConfigError("--objectives needs at least one of: " + ", ".join(OBJECTIVES))
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ConfigError(f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"--objectives lists an objective twice: {','.join(names)}")
    if all(OBJECTIVES[n].cheap for n in names):
        raise ConfigError("--objectives needs a predicted metric (accuracy or avm); cost alone needs no search")
    return tuple(OBJECTIVES[n] for n in names)
