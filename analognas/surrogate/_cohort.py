"""Which records are comparable: the conditions of a measurement, less its chips' seed.

Records join one fit only when space, data set, fidelity, recipe and drift settings agree.
The drift settings are compared without their seed, because ``collect`` programs training
seed s with chip seed s: two seeds of one design are one cohort.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


def _settings_text(rec: dict[str, Any]) -> str | None:
    drift = rec.get("drift")
    if not isinstance(drift, dict) or not drift:
        return None
    try:
        return json.dumps({k: v for k, v in drift.items() if k != "seed"}, sort_keys=True, separators=(",", ":"),
                          allow_nan=False)
    except (TypeError, ValueError):
        return None


def _hash_of(text: str | None, rec: dict[str, Any]) -> str:
    """The record's drift settings (``_settings_text``), hashed without their seed.

    ``collect`` programs training seed s with chip seed s, so a second seed of the same
    design has another ``drift_hash`` although it was measured the same way; cohorts (and
    with them fits, seed agreement) compare the settings that change what is measured.
    Records without a readable ``drift`` dict fall back to their ``drift_hash``.
    """
    return str(rec["drift_hash"]) if text is None else "s" + hashlib.sha256(text.encode()).hexdigest()[:11]


def _drift_difference(mine: Cohort, other: Cohort) -> str:
    """`other`'s drift settings where they differ from `mine` ("repeats 2 (not 8)")."""
    try:
        a, b = json.loads(mine.drift_settings), json.loads(other.drift_settings)
    except ValueError:
        return other.drift_hash
    diff = [f"{k} {b.get(k)!r} (not {a.get(k)!r})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return ", ".join(diff[:3]) or other.drift_hash


@dataclass(frozen=True)
class Cohort:
    """The conditions that make records comparable."""

    space: str
    space_fingerprint: str
    dataset: str
    fidelity: str
    fidelity_hash: str
    recipe: str
    recipe_hash: str
    drift_hash: str
    """Of the drift settings less their seed (see `_hash_of`)."""
    drift_settings: str = field(default="", compare=False)
    """Those settings as canonical JSON, to say in words how two cohorts' settings differ."""

    @classmethod
    def of(cls, rec: dict[str, Any]) -> Cohort:
        text = _settings_text(rec)
        return cls(
            space=str(rec["space"].get("name")),
            space_fingerprint=str(rec["space"]["fingerprint"]),
            dataset=str(rec["dataset"]["name"]),
            fidelity=str(rec["fidelity_name"]),
            fidelity_hash=str(rec["fidelity_hash"]),
            recipe=str(rec.get("recipe_name")),
            recipe_hash=str(rec["recipe_hash"]),
            drift_hash=_hash_of(text, rec),
            drift_settings=text or "",
        )

    def differs(self, other: Cohort) -> str:
        """How `other` differs from this cohort, in words (first difference wins)."""
        checks = (
            ("space", f"{other.space} ({other.space_fingerprint})", self.space_fingerprint != other.space_fingerprint),
            ("dataset", other.dataset, self.dataset != other.dataset),
            ("fidelity", f"{other.fidelity} ({other.fidelity_hash})", self.fidelity_hash != other.fidelity_hash),
            ("recipe", f"{other.recipe} ({other.recipe_hash})", self.recipe_hash != other.recipe_hash),
            ("drift settings", _drift_difference(self, other), self.drift_hash != other.drift_hash),
        )
        for what, value, differ in checks:
            if differ:
                return f"{what} {value}"
        return "same conditions"


def cohort_words(c: Cohort) -> str:
    return f"space {c.space}, {c.dataset}, fidelity {c.fidelity}, recipe {c.recipe}"
