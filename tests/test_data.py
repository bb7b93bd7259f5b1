"""Tests for analognas.data: real Fashion-MNIST (when the Debian files are installed),
synthetic IDX and CIFAR files written to tmp_path, the safe unpickler, download handling
with the network replaced by fakes, batching and augmentation."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import socket
import struct
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from analognas._errors import ConfigError, DataError
from analognas.data import (
    DATASETS,
    Dataset,
    Split,
    _download,
    augment_batch,
    default_data_dir,
    iterate_batches,
    load_dataset,
)

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HAVE_DEBIAN = all(
    (DEBIAN_DIR / f"{stem}.gz").is_file()
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
)
needs_debian = pytest.mark.skipif(not HAVE_DEBIAN, reason="apt-get install dataset-fashion-mnist to run")

FMNIST_MEAN, FMNIST_STD = 0.2860, 0.3530
CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never download: any urlopen call fails loudly unless a test installs a fake."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to open a URL")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# --------------------------------------------------------------------------- IDX helpers


def _idx_bytes(array: np.ndarray) -> bytes:
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    data = _idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def _write_fmnist(
    folder: Path,
    gz: bool,
    train_labels: np.ndarray | None = None,
    n_test: int = 20,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write the four IDX files; returns the uint8 images and labels that were written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if train_labels is None:
        train_labels = np.arange(40) % 10
    train_labels = train_labels.astype(np.uint8)
    test_labels = (np.arange(n_test) % 10).astype(np.uint8)
    arrays = {
        "train_x": rng.integers(0, 256, (len(train_labels), 28, 28), dtype=np.uint8),
        "train_y": train_labels,
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": test_labels,
    }
    _write_idx(folder / "train-images-idx3-ubyte", arrays["train_x"], gz)
    _write_idx(folder / "train-labels-idx1-ubyte", arrays["train_y"], gz)
    _write_idx(folder / "t10k-images-idx3-ubyte", arrays["test_x"], gz)
    _write_idx(folder / "t10k-labels-idx1-ubyte", arrays["test_y"], gz)
    return arrays


def _fmnist_norm(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float64) / 255 - FMNIST_MEAN) / FMNIST_STD)[:, None]


# ------------------------------------------------------------------------- CIFAR helpers


class _Py2Pickler(pickle._Pickler):  # type: ignore[misc] - the pure-Python pickler
    """Mimics the 2009 Python 2 files: strings as BINSTRING, numpy.core module names."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def _save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = _save_py2_str
    dispatch[bytes] = _save_py2_str


def _py2_dumps(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue()
    assert b"cnumpy._core.multiarray\n" in data
    return data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


WRITERS: dict[str, Callable[[object], bytes]] = {
    "py2-original": _py2_dumps,
    "protocol2": lambda obj: pickle.dumps(obj, protocol=2),
    "protocol5": lambda obj: pickle.dumps(obj, protocol=5),
}

CIFAR_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]


def _write_cifar(
    folder: Path, dumps: Callable[[object], bytes] = _py2_dumps, per_batch: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Write six small CIFAR-format batches; returns train/test uint8 rows and labels."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    rows, labels = [], []
    for b, name in enumerate(CIFAR_FILES):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        batch_labels = [(b + i) % 10 for i in range(per_batch)]
        batch = {
            b"batch_label": f"batch {b}".encode(),
            b"labels": batch_labels,
            b"data": data,
            b"filenames": [f"img_{b}_{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(dumps(batch))
        rows.append(data)
        labels.append(np.array(batch_labels))
    return np.concatenate(rows[:5]), np.concatenate(labels[:5]), rows[5], labels[5]


def _cifar_uint8(x: torch.Tensor) -> np.ndarray:
    """Undo normalisation to recover the stored pixels (exact after rounding)."""
    pixels = x.numpy() * CIFAR_STD[None, :, None, None] + CIFAR_MEAN[None, :, None, None]
    return np.rint(pixels * 255).astype(np.uint8)


# ------------------------------------------------------------- real Fashion-MNIST (Debian)


@pytest.fixture(scope="module")
def fmnist_full() -> Dataset:
    return load_dataset("fashion-mnist")


@pytest.fixture(scope="module")
def fmnist_sub() -> Dataset:
    return load_dataset("fashion-mnist", train_size=2000, test_size=500, seed=0)


@needs_debian
def test_fashion_mnist_full_shapes_labels_and_normalisation(fmnist_full: Dataset) -> None:
    ds = fmnist_full
    assert ds.name == "fashion-mnist"
    assert ds.train.x.shape == (60000, 1, 28, 28) and ds.train.x.dtype == torch.float32
    assert ds.test.x.shape == (10000, 1, 28, 28)
    assert ds.train.y.dtype == torch.int64 and len(ds.train) == 60000 and len(ds.test) == 10000
    assert torch.equal(torch.bincount(ds.train.y), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(ds.test.y), torch.full((10,), 1000))
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10 and len(ds.classes) == 10
    assert ds.augment is False
    assert abs(ds.train.x.mean().item()) < 0.01
    assert abs(ds.train.x.std().item() - 1.0) < 0.01
    info = json.loads(json.dumps(ds.describe()))
    assert info["source"] == str(DEBIAN_DIR) and info["train_size"] == 60000
    assert sorted(info["files"]) == sorted(p.name for p in DEBIAN_DIR.glob("*-ubyte.gz"))
    labels = info["files"]["t10k-labels-idx1-ubyte.gz"]
    raw = (DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert labels == {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


@needs_debian
def test_fashion_mnist_subset_is_balanced_and_aligned(fmnist_full: Dataset, fmnist_sub: Dataset) -> None:
    sub = fmnist_sub
    assert sub.train.x.shape == (2000, 1, 28, 28) and sub.test.x.shape == (500, 1, 28, 28)
    assert torch.equal(torch.bincount(sub.train.y), torch.full((10,), 200))
    assert torch.equal(torch.bincount(sub.test.y), torch.full((10,), 50))
    assert sub.describe()["train_available"] == 60000

    # Every subset image is a distinct image of the full set, carrying that image's label.
    # (Normalisation is element-wise, so equal pixels give bit-identical rows.)
    full_x = fmnist_full.train.x.numpy().reshape(60000, -1)
    row_of = {row.tobytes(): i for i, row in enumerate(full_x)}
    pos = np.array([row_of.get(row.tobytes(), -1) for row in sub.train.x.numpy().reshape(2000, -1)])
    assert (pos >= 0).all()
    assert len(np.unique(pos)) == 2000
    agree = (fmnist_full.train.y.numpy()[pos] == sub.train.y.numpy()).mean()
    assert agree > 0.99  # Fashion-MNIST has a few duplicate images with different labels


@needs_debian
def test_fashion_mnist_subset_determinism(fmnist_sub: Dataset) -> None:
    # Same seed: same train subset, even with a different test size (independent streams).
    again = load_dataset("fashion-mnist", train_size=2000, test_size=100, seed=0)
    assert torch.equal(again.train.x, fmnist_sub.train.x)
    assert torch.equal(again.train.y, fmnist_sub.train.y)
    other = load_dataset("fashion-mnist", train_size=2000, test_size=500, seed=1)
    assert torch.equal(torch.bincount(other.train.y), torch.full((10,), 200))
    assert not torch.equal(other.train.x, fmnist_sub.train.x)
    assert not torch.equal(other.test.x, fmnist_sub.test.x)


@needs_debian
def test_default_dir_is_debian_location() -> None:
    assert default_data_dir("fashion-mnist") == DEBIAN_DIR
    assert default_data_dir("Fashion_MNIST") == DEBIAN_DIR


# ------------------------------------------------------------------ synthetic IDX files


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_files_load_exactly(tmp_path: Path, gz: bool) -> None:
    written = _write_fmnist(tmp_path, gz)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.train.x.shape == (40, 1, 28, 28) and ds.test.x.shape == (20, 1, 28, 28)
    assert np.array_equal(ds.train.y.numpy(), written["train_y"])
    assert np.array_equal(ds.test.y.numpy(), written["test_y"])
    np.testing.assert_allclose(ds.train.x.numpy(), _fmnist_norm(written["train_x"]), atol=1e-5)
    np.testing.assert_allclose(ds.test.x.numpy(), _fmnist_norm(written["test_x"]), atol=1e-5)
    assert ds.source == tmp_path
    suffix = ".gz" if gz else ""
    assert set(ds.describe()["files"]) == {
        f"{stem}{suffix}"
        for stem in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    }


def test_torchvision_layout_is_found(tmp_path: Path) -> None:
    _write_fmnist(tmp_path / "FashionMNIST" / "raw", gz=False)
    assert len(load_dataset("fashion-mnist", data_dir=tmp_path).train) == 40


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_truncated_idx_is_data_error(tmp_path: Path, gz: bool) -> None:
    _write_fmnist(tmp_path, gz)
    images = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    data = images.read_bytes()
    images.write_bytes(data[: len(data) - 100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte") as info:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    assert "truncated" in str(info.value)


@pytest.mark.parametrize(
    ("name", "corrupt", "message"),
    [
        ("train-images-idx3-ubyte", lambda d: b"\x08\x03" + d[2:], "magic"),
        ("train-images-idx3-ubyte", lambda d: d + b"\x00" * 5, "corrupt"),
        ("train-labels-idx1-ubyte", lambda d: _idx_bytes(np.zeros(39, np.uint8)), "39 labels"),
        ("train-labels-idx1-ubyte", lambda d: _idx_bytes(np.full(40, 10, np.uint8)), "label 10"),
        ("t10k-images-idx3-ubyte", lambda d: _idx_bytes(np.zeros((20, 32, 32), np.uint8)), "28"),
    ],
    ids=["magic", "trailing-bytes", "count-mismatch", "label-range", "image-size"],
)
def test_corrupt_idx_is_data_error(tmp_path: Path, name: str, corrupt: Callable[[bytes], bytes], message: str) -> None:
    _write_fmnist(tmp_path, gz=False)
    path = tmp_path / name
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataError, match=message) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    assert name in str(info.value)


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message
    assert "does not exist" in message and "\n" not in message

    _write_fmnist(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte;") as info:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


def test_subset_is_stratified_capped_and_seeded(tmp_path: Path) -> None:
    # Class 0 has only 2 images, the other nine classes 10 each.
    labels = np.concatenate([[0, 0], np.repeat(np.arange(1, 10), 10)])
    _write_fmnist(tmp_path, gz=False, train_labels=labels)

    def counts(size: int, seed: int = 0) -> np.ndarray:
        ds = load_dataset("fashion-mnist", data_dir=tmp_path, train_size=size, seed=seed)
        return np.bincount(ds.train.y.numpy(), minlength=10)

    assert np.array_equal(counts(20), np.full(10, 2))
    capped = counts(50)
    assert capped[0] == 2 and capped.sum() == 50 and set(capped[1:]) == {5, 6}
    odd = counts(13)
    assert odd.sum() == 13 and odd.max() - odd.min() == 1
    assert len({tuple(counts(13, seed)) for seed in range(8)}) > 1  # extras vary with seed

    a = load_dataset("fashion-mnist", data_dir=tmp_path, train_size=30, test_size=7, seed=3)
    b = load_dataset("fashion-mnist", data_dir=tmp_path, train_size=30, test_size=7, seed=3)
    c = load_dataset("fashion-mnist", data_dir=tmp_path, train_size=30, test_size=7, seed=4)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)
    full = load_dataset("fashion-mnist", data_dir=tmp_path, train_size=92)
    assert np.array_equal(full.train.y.numpy(), labels)  # full size keeps file order


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train_size": 0}, "train_size must be at least 1"),
        ({"test_size": -3}, "test_size must be at least 1"),
        ({"train_size": 41}, "train_size=41 exceeds the 40"),
        ({"test_size": 21}, "test_size=21 exceeds the 20"),
        ({"train_size": True}, "train_size must be a whole number"),
        ({"train_size": 2.5}, "train_size must be a whole number"),
        ({"seed": -1}, "seed must be a non-negative"),
    ],
)
def test_bad_sizes_are_config_errors(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    _write_fmnist(tmp_path, gz=False)
    with pytest.raises(ConfigError, match=message) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path, **kwargs)
    assert "\n" not in str(info.value)


def test_unknown_dataset_lists_names() -> None:
    assert set(DATASETS) == {"fashion-mnist", "cifar10"}
    with pytest.raises(DataError, match="mnist-digits") as info:
        load_dataset("mnist-digits")
    assert "cifar10" in str(info.value) and "fashion-mnist" in str(info.value)
    with pytest.raises(DataError):
        default_data_dir("imagenet")


# ------------------------------------------------------------------------- CIFAR batches


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("point_at", ["parent", "batches-folder"])
def test_cifar_batches_load(tmp_path: Path, writer: str, point_at: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    train_rows, train_labels, test_rows, test_labels = _write_cifar(folder, WRITERS[writer])
    data_dir = tmp_path if point_at == "parent" else folder
    ds = load_dataset("cifar10", data_dir=data_dir)
    assert ds.name == "cifar10" and ds.augment is True
    assert ds.input_shape == (3, 32, 32) and ds.num_classes == 10 and ds.classes[0] == "airplane"
    assert ds.train.x.shape == (100, 3, 32, 32) and ds.test.x.shape == (20, 3, 32, 32)
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert np.array_equal(ds.train.y.numpy(), train_labels)
    assert np.array_equal(ds.test.y.numpy(), test_labels)
    # Channel-major layout: pixel (c, i, j) of image n is row n, column c*1024 + i*32 + j.
    assert np.array_equal(_cifar_uint8(ds.train.x).reshape(100, 3072), train_rows)
    assert np.array_equal(_cifar_uint8(ds.test.x).reshape(20, 3072), test_rows)
    assert ds.source == folder
    assert sorted(ds.describe()["files"]) == sorted(CIFAR_FILES)

    sub = load_dataset("cifar10", data_dir=data_dir, train_size=30, test_size=10, seed=5)
    assert torch.equal(torch.bincount(sub.train.y), torch.full((10,), 3))
    assert torch.equal(torch.bincount(sub.test.y), torch.ones(10, dtype=torch.int64))


class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


class _Execs:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code,))


@pytest.mark.parametrize("attack", ["os.system", "builtins.exec"])
def test_malicious_pickle_is_refused_and_not_run(tmp_path: Path, attack: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    marker = tmp_path / "pwned"
    payload = (
        _RunsCommand(f"touch {marker}") if attack == "os.system" else _Execs(f"open({str(marker)!r}, 'w').close()")
    )
    evil = {b"data": payload, b"labels": [0]}
    (folder / "data_batch_3").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match="refusing to unpickle") as info:
        load_dataset("cifar10", data_dir=tmp_path)
    assert "data_batch_3" in str(info.value)
    assert ("system" if attack == "os.system" else "exec") in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda good: good[: len(good) // 2], "not a readable CIFAR pickle"),
        (lambda good: b"garbage" * 10, "not a readable CIFAR pickle"),
        (lambda good: pickle.dumps([1, 2, 3]), "expected a dict"),
        (lambda good: pickle.dumps({b"fine_labels": [1]}), "no 'data' entry"),
        (
            lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}),
            "uint8 array of shape .N, 3072., got float32",
        ),
        (
            lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
            "'labels' must be 2 integers",
        ),
        (
            lambda good: pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}),
            "labels outside",
        ),
        # _codecs.encode is allowed for protocol-2 bytes, but only with text encodings.
        (lambda good: b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.", "codec"),
    ],
    ids=["truncated", "garbage", "not-a-dict", "no-data", "float-data", "few-labels", "range", "codec"],
)
def test_corrupt_cifar_batch_is_data_error(tmp_path: Path, content: Callable[[bytes], bytes], message: str) -> None:
    _write_cifar(tmp_path)
    batch = tmp_path / "test_batch"
    batch.write_bytes(content(batch.read_bytes()))
    with pytest.raises(DataError, match=message) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    assert "test_batch" in str(info.value)


def test_missing_cifar_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--data-dir") as info:
        load_dataset("cifar10", data_dir=tmp_path / "nowhere")
    assert "does not exist" in str(info.value)
    _write_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DataError, match="lacks data_batch_4"):
        load_dataset("cifar10", data_dir=tmp_path)


# --------------------------------------------------- download, with the network faked


def _archive(tmp_path: Path, members: Callable[[tarfile.TarFile], None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        members(tar)
    return buffer.getvalue()


def _serve(monkeypatch: pytest.MonkeyPatch, payload: bytes, calls: list[str]) -> None:
    def fake_urlopen(url: str, timeout: float) -> io.BytesIO:
        assert timeout > 0
        calls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(_download, "CIFAR10_MD5", hashlib.md5(payload).hexdigest())


def _no_staging_left(folder: Path) -> bool:
    return not any(p.name.startswith(".cifar10-download-") for p in folder.iterdir())


def test_download_verifies_and_extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    _, train_labels, _, _ = _write_cifar(source / "cifar-10-batches-py")

    def members(tar: tarfile.TarFile) -> None:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")

    calls: list[str] = []
    _serve(monkeypatch, _archive(tmp_path, members), calls)
    cache = tmp_path / "cache"
    ds = load_dataset("cifar10", data_dir=cache, download=True)
    assert calls == [_download.CIFAR10_URL]
    assert np.array_equal(ds.train.y.numpy(), train_labels)
    assert ds.source == cache / "cifar-10-batches-py"
    assert _no_staging_left(cache) and sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py"]
    load_dataset("cifar10", data_dir=cache, download=True)  # present now: no second fetch
    assert len(calls) == 1


def test_download_md5_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, b"not the archive", [])
    monkeypatch.setattr(_download, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(DataError, match="MD5"):
        load_dataset("cifar10", data_dir=tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []


def _evil_members(kind: str) -> Callable[[tarfile.TarFile], None]:
    def members(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        if kind == "traversal":
            info = tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        elif kind == "absolute":
            info = tarfile.TarInfo("/tmp/analognas-escaped.txt")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)

    return members


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink"])
def test_download_refuses_unsafe_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    cache = tmp_path / "a" / "b"
    _serve(monkeypatch, _archive(tmp_path, _evil_members(kind)), [])
    with pytest.raises(DataError, match="refusing"):
        load_dataset("cifar10", data_dir=cache, download=True)
    assert not (tmp_path / "a" / "escaped.txt").exists()
    assert not (cache / "cifar-10-batches-py").exists() and _no_staging_left(cache)


def test_offline_download_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="offline") as info:
        load_dataset("cifar10", data_dir=tmp_path, download=True)
    assert "--data-dir" in str(info.value) and "cifar-10-batches-py" in str(info.value)
    assert _no_staging_left(tmp_path)


# ------------------------------------------------------------- batching and augmentation


def _id_split(n: int = 103) -> Split:
    """Images whose labels are their own index, so batches can be traced back."""
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    return Split(x, torch.arange(n))


def test_shuffled_epoch_covers_every_sample_once() -> None:
    split = _id_split()
    gen = torch.Generator().manual_seed(0)
    epochs = []
    for _ in range(2):
        batches = list(iterate_batches(split, batch_size=10, shuffle=True, generator=gen))
        assert [len(yb) for _, yb in batches] == [10] * 10 + [3]
        for xb, yb in batches:
            assert torch.equal(xb[:, 0, 0, 0].long(), yb)  # images stay with their labels
        epochs.append(torch.cat([yb for _, yb in batches]))
    for order in epochs:
        assert torch.equal(order.sort().values, torch.arange(103))
        assert not torch.equal(order, torch.arange(103))
    assert not torch.equal(epochs[0], epochs[1])  # the generator advances between epochs

    again = iterate_batches(split, 10, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([yb for _, yb in again]), epochs[0])


def test_unshuffled_and_drop_last() -> None:
    split = _id_split()
    ordered = torch.cat([yb for _, yb in iterate_batches(split, batch_size=25)])
    assert torch.equal(ordered, torch.arange(103))
    dropped = list(iterate_batches(split, 25, shuffle=True, generator=torch.Generator(), drop_last=True))
    assert [len(yb) for _, yb in dropped] == [25] * 4


def test_iterate_batches_rejects_bad_arguments() -> None:
    split = _id_split()
    with pytest.raises(ConfigError, match="batch_size"):
        iterate_batches(split, batch_size=0)
    with pytest.raises(ConfigError, match="Generator"):
        iterate_batches(split, batch_size=8, shuffle=True)
    with pytest.raises(ConfigError, match="Generator"):
        iterate_batches(split, batch_size=8, augment=True)


def _all_crops(image: torch.Tensor, padding: int = 4) -> list[torch.Tensor]:
    _, h, w = image.shape
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    crops = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            crops += [crop, crop.flip(2)]
    return crops


def test_augmentation_is_crop_and_flip_and_seeded() -> None:
    x = torch.randn(64, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    before = x.clone()
    global_state = torch.get_rng_state()
    out = augment_batch(x, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), global_state)  # global RNG untouched
    assert out.shape == x.shape and out.dtype == x.dtype and torch.equal(x, before)
    assert torch.equal(out, augment_batch(x, torch.Generator().manual_seed(7)))
    assert not torch.equal(out, augment_batch(x, torch.Generator().manual_seed(8)))
    matched = []
    for image, result in zip(x, out, strict=True):
        hits = [i for i, crop in enumerate(_all_crops(image)) if torch.equal(crop, result)]
        assert hits, "augmented image is not a padded crop (or its mirror) of the input"
        matched.append(hits[0])
    flips = sum(i % 2 for i in matched)
    assert 10 < flips < 54 and len({i // 2 for i in matched}) > 10


def test_iterate_batches_augments_deterministically() -> None:
    x = torch.randn(50, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    split = Split(x, torch.arange(50) % 10)

    def epoch(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(seed)
        return list(iterate_batches(split, 16, shuffle=True, generator=gen, augment=True))

    first, second = epoch(0), epoch(0)
    assert [xb.shape[0] for xb, _ in first] == [16, 16, 16, 2]
    for (xa, ya), (xb, yb) in zip(first, second, strict=True):
        assert xa.shape[1:] == (3, 32, 32) and torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(first[0][0], epoch(1)[0][0])


def test_split_rejects_mismatched_lengths() -> None:
    with pytest.raises(DataError, match="5 images"):
        Split(torch.zeros(5, 1, 2, 2), torch.zeros(4, dtype=torch.int64))
    assert len(Split(torch.zeros(5, 1, 2, 2), torch.zeros(5, dtype=torch.int64))) == 5
