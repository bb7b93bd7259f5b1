"""How a collection reads its chips: how many programmings, on how many test images each,
and at which drift times.

Kept apart from ``_collect`` because it is a measured choice with its own evidence
(``benchmarks/chip_budget.py``), not collection machinery.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from analognas._times import DEFAULT_TIMES

if TYPE_CHECKING:
    from analognas.training import Fidelity

BASE_CHIPS = 8
SUBSET_IMAGES = 1000

COLLECT_TIMES = (1.0, 86_400.0, 2_592_000.0)
"""The drift times a protocol-v2 record holds: 1 day (the fit's default target, and the
spread), 1 s and 1 month (AVM, and the search's ``--drift 1mo`` target). 1 h is in no
target, and each time point is a whole pass of every chip over its test images (next to
which programming a chip and drifting it cost little), so measuring it would cost about a
quarter of the drift evaluation: 15 % of a ``quick-2ep`` record and 11 % of a ``half``
one, at the drift shares ``fidelity_study.py --report`` prints (62 % and 43 %).
``collect --drift 1h`` adds it (or any time) back."""


def collection_times(protocol: int, extra: Iterable[float] = ()) -> tuple[float, ...]:
    """The drift times a collection measures: ``COLLECT_TIMES`` plus ``extra`` under
    protocol v2; protocol v1 keeps ``DEFAULT_TIMES`` (1 h included) as its committed
    records were measured, so that their collections resume with their keys."""
    base = DEFAULT_TIMES if protocol == 1 else COLLECT_TIMES
    return tuple(sorted({*base, *(float(t) for t in extra)}))


def default_reading(fidelity: Fidelity) -> tuple[int, int | None]:
    """How a collection reads its chips unless told: (programmings, test images per chip).

    A fidelity that reads a subset of the test set larger than ``SUBSET_IMAGES`` trains
    briefly, and at ``quick`` networks differ between chips by 0.5 to 11 points at 1 day
    (0.8 to 15 at 1 month), mostly more than a 1,000-image subset adds (about 1 point):
    there as many 1,000-image chips as cost what ``BASE_CHIPS`` whole-set chips cost (40
    at ``quick``) give a record 1.7-2.2x less noise for the same CPU on the two networks
    measured (``benchmarks/chip_budget.py``), about 1.1x on the steadiest. A fidelity
    reading the whole test set (``standard``, ``high``) trains to convergence; there
    ResNet32 and T500 differ by 0.15-0.33 points between chips and the whole set is as
    good or better but for one case: ``BASE_CHIPS`` of it.
    """
    n = fidelity.test_size
    if n is None or n <= SUBSET_IMAGES:
        return BASE_CHIPS, None
    return BASE_CHIPS * n // SUBSET_IMAGES, SUBSET_IMAGES


def resolve_reading(fidelity: Fidelity, repeats: int | None, images_per_chip: int | None) -> tuple[int, int | None]:
    """The reading for the flags given: neither is ``default_reading``; ``repeats`` alone
    reads the whole test set (as collections did before subsets); ``images_per_chip``
    alone reads ``BASE_CHIPS`` chips of that many images; ``images_per_chip`` 0,
    or at least the fidelity's test set, reads the whole set and says so (None), so the
    records of such a collection keep their keys."""
    if repeats is None and images_per_chip is None:
        return default_reading(fidelity)
    n = fidelity.test_size
    if not images_per_chip or (n is not None and images_per_chip >= n):
        images_per_chip = None
    return (BASE_CHIPS if repeats is None else repeats), images_per_chip
