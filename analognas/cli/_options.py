"""CLI options declared once: the measurement protocol every measuring command shares.

``train``, ``evaluate``, ``compare`` and ``collect`` all take the same dataset, fidelity
(and its overrides), recipe, seed, cache and device flags. They are declared here, once,
and added to a command by ``@protocol_options(...)``; the command receives them as one
``ProtocolOptions`` (``opts``) that turns them into the library's objects. typer reads the
command's signature, so the decorator publishes the combined signature.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

DatasetOpt = Annotated[str, typer.Option(help="fashion-mnist (offline default) or cifar10.")]
DataDirOpt = Annotated[str | None, typer.Option(help="Folder with the dataset files (IDX or cifar-10-batches-py).")]
FidelityOpt = Annotated[str, typer.Option(help="Named protocol: smoke, low, medium, high (v1); quick, standard (v2).")]
EpochsOpt = Annotated[int | None, typer.Option(help="FP32 epochs (overrides the fidelity).")]
HwaEpochsOpt = Annotated[int | None, typer.Option(help="HWA fine-tuning epochs (overrides the fidelity).")]
TrainSizeOpt = Annotated[int | None, typer.Option(help="Training images (class-balanced subset).")]
TestSizeOpt = Annotated[int | None, typer.Option(help="Test images.")]
BatchOpt = Annotated[int | None, typer.Option(help="Batch size (overrides the fidelity).")]
LrOpt = Annotated[float | None, typer.Option(help="Peak FP32 learning rate (overrides the fidelity).")]
SeedOpt = Annotated[int, typer.Option(help="Seed of initialisation, shuffling and programming noise.")]
RecipeOpt = Annotated[
    str, typer.Option(help="HWA recipe: hwa-v2 (protocol v2), hwa-v2-all-analog, hwa-v1, none, or a recipe .json file.")
]
CacheOpt = Annotated[Path | None, typer.Option(help="Checkpoint cache folder (default runs/cache).")]
DeviceOpt = Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda or cuda:N.")]


@dataclass(frozen=True)
class ProtocolOptions:
    """The shared flags of one command call, as given."""

    dataset: str
    data_dir: str | None
    fidelity: str
    epochs: int | None
    hwa_epochs: int | None
    train_size: int | None
    test_size: int | None
    batch_size: int | None
    lr: float | None
    recipe: str
    seed: int
    cache_dir: Path | None
    device: str

    def resolved_fidelity(self):  # -> Fidelity
        from analognas.training import get_fidelity

        return get_fidelity(self.fidelity).with_overrides(
            epochs=self.epochs,
            hwa_epochs=self.hwa_epochs,
            train_size=self.train_size,
            test_size=self.test_size,
            batch_size=self.batch_size,
            lr=self.lr,
        )

    def common(self) -> dict[str, Any]:
        """``dataset``, ``fidelity`` and ``recipe`` as ``evaluate_architecture`` takes them."""
        from analognas.analog import resolve_recipe

        return {"dataset": self.dataset, "fidelity": self.resolved_fidelity(), "recipe": resolve_recipe(self.recipe)}

    def resolved_device(self):  # -> torch.device
        from analognas._device import resolve_device

        return resolve_device(self.device)

    def store(self):  # -> CheckpointStore
        from analognas.training import CheckpointStore

        return CheckpointStore(self.cache_dir)


_FIELDS: tuple[tuple[str, Any], ...] = (
    ("dataset", DatasetOpt),
    ("data_dir", DataDirOpt),
    ("fidelity", FidelityOpt),
    ("epochs", EpochsOpt),
    ("hwa_epochs", HwaEpochsOpt),
    ("train_size", TrainSizeOpt),
    ("test_size", TestSizeOpt),
    ("batch_size", BatchOpt),
    ("lr", LrOpt),
    ("recipe", RecipeOpt),
    ("seed", SeedOpt),
    ("cache_dir", CacheOpt),
    ("device", DeviceOpt),
)


def protocol_options(*, fidelity: str = "standard", recipe: str = "hwa-v2"):  # type: ignore[no-untyped-def]
    """Add the shared protocol flags to a command whose function takes ``opts``."""
    defaults = {
        "dataset": "fashion-mnist",
        "data_dir": None,
        "fidelity": fidelity,
        "recipe": recipe,
        "seed": 0,
        "device": "auto",
    }

    def decorate(fn):  # type: ignore[no-untyped-def]
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(fn).parameters.values()
            if p.name != "opts"
        ]
        required = [p for p in own if p.default is inspect.Parameter.empty]
        optional = [p for p in own if p.default is not inspect.Parameter.empty]
        shared = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults.get(name), annotation=tp)
            for name, tp in _FIELDS
        ]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            opts = ProtocolOptions(**{name: kwargs.pop(name) for name, _ in _FIELDS})
            return fn(*args, opts=opts, **kwargs)

        wrapper.__signature__ = inspect.Signature([*required, *shared, *optional])  # type: ignore[attr-defined]
        return wrapper

    return decorate
