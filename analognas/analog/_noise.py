"""Gaussian samples for per-forward output noise, cheap enough to use everywhere.

torch's CPU ``normal_`` costs about 3 ns per sample (mt19937, single-threaded). ResNet32
at batch 128 needs 39M output-noise samples per forward, so exact fresh sampling costs
more than all its convolutions together. ``NoiseSource`` therefore serves each request
as a window at a uniformly random offset of a bank of fresh ``normal_`` samples, and
redraws the whole bank after it has served ``reuse`` times its size:

* every window holds distinct bank entries, so the noise of one tile output (one
  request) is *exactly* iid N(0, 1);
* across requests, windows overlap at random, unrelated positions; on average each
  sample is used ``reuse`` times. Expectations over one tile output are exact; only the
  joint law across different tile outputs is approximated.

``reuse=1`` bypasses the bank: fresh samples for every request (exact, slower).

Samples are always drawn on the CPU from the explicit generator, so results do not depend
on the device; for a CUDA model the bank is copied to the device once per refill.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

FILL_CHUNKS = 4
"""Independent generator streams a bank is drawn from (fixed: results must not depend on
the number of threads)."""

MIN_BANK = 1 << 23
"""Smallest bank (8M samples, 32 MiB); it grows to twice the largest request."""


class NoiseSource:
    """Standard-normal samples drawn from an explicit ``torch.Generator``."""

    def __init__(self, generator: torch.Generator, reuse: int = 4) -> None:
        if reuse < 1:
            raise ValueError("reuse must be >= 1")
        self.generator = generator
        self.reuse = reuse
        self._bank: torch.Tensor | None = None
        self._served = 0
        self._device_bank: torch.Tensor | None = None
        self._fill_seeds: list[int] = []

    def standard_normal(
        self, n: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``n`` samples as a 1-D tensor on ``device`` (default CPU); a read-only view into
        the bank when reusing."""
        dev = torch.device(device) if device is not None else torch.device("cpu")
        if self.reuse == 1:
            return torch.empty(n, dtype=dtype).normal_(generator=self.generator).to(dev)
        bank = self._bank
        if bank is None or 2 * n > bank.numel():
            bank = self._fill(torch.empty(max(MIN_BANK, 2 * n)))
            self._bank, self._served, self._device_bank = bank, 0, None
        elif self._served >= self.reuse * bank.numel():
            self._fill(bank)
            self._served, self._device_bank = 0, None
        offset = int(torch.randint(0, bank.numel() - n + 1, (1,), generator=self.generator))
        self._served += n
        if dev.type != "cpu":
            if self._device_bank is None or self._device_bank.device != dev:
                self._device_bank = bank.to(dev)
            bank = self._device_bank
        window = bank[offset : offset + n]
        return window if dtype == torch.float32 else window.to(dtype)

    def _fill(self, bank: torch.Tensor, seeds: list[int] | None = None) -> torch.Tensor:
        """Refill with fresh samples. ``normal_`` is single-threaded, so the bank is drawn
        as ``FILL_CHUNKS`` parts with generators seeded from ``self.generator``, in
        parallel when torch may use several threads; the chunking (hence the samples)
        does not depend on the thread count. ``seeds`` redraws a saved bank exactly."""
        if seeds is None:
            seeds = torch.randint(0, 2**62, (FILL_CHUNKS,), generator=self.generator).tolist()
        self._fill_seeds = [int(x) for x in seeds]
        parts = bank.chunk(FILL_CHUNKS)
        jobs = [(part, torch.Generator().manual_seed(int(seed))) for part, seed in zip(parts, seeds, strict=True)]
        workers = min(FILL_CHUNKS, torch.get_num_threads())
        if workers <= 1:
            for part, gen in jobs:
                part.normal_(generator=gen)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda job: job[0].normal_(generator=job[1]), jobs))
        return bank

    def state_dict(self) -> dict[str, Any]:
        """Everything the next draws depend on, so that a resumed HWA run draws exactly the
        noise an uninterrupted one would: the generator, and the bank as the seeds it was
        drawn from (not its 32 MiB of samples), its size and how much of it was served."""
        return {
            "generator": self.generator.get_state(),
            "reuse": self.reuse,
            "bank_size": 0 if self._bank is None else self._bank.numel(),
            "fill_seeds": list(self._fill_seeds),
            "served": self._served,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["reuse"]) != self.reuse:
            raise ValueError(f"noise state was saved with reuse {state['reuse']}, this source reuses {self.reuse}")
        self.generator.set_state(state["generator"])
        size = int(state["bank_size"])
        self._bank = self._fill(torch.empty(size), list(state["fill_seeds"])) if size else None
        self._served, self._device_bank = int(state["served"]), None

    def __getstate__(self) -> dict[str, Any]:
        # the bank is a cache: never pickle or deep-copy 32 MiB of samples
        state = dict(self.__dict__)
        state["_bank"], state["_served"], state["_device_bank"] = None, 0, None
        return state
