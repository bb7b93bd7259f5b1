"""Fetching the CIFAR-10 archive: verified before use, extracted without trusting paths.

The MD5 published with the dataset is checked before anything is extracted, extraction
writes only regular files under ``cifar-10-batches-py/`` (no links, no absolute or ``..``
paths), and everything happens in a temporary folder that is renamed into place only when
complete, so an interrupted download never leaves a half-written dataset behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from analognas._errors import DataError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
TIMEOUT_S = 60.0
# The real archive is ~163 MiB; a server streaming more than this is not serving CIFAR-10.
MAX_BYTES = 256 * 2**20
_CHUNK = 2**20


def _offline_hint() -> str:
    return (
        "download cifar-10-python.tar.gz on a machine with internet access, extract it, and "
        "pass --data-dir DIR pointing at the extracted cifar-10-batches-py folder (or its parent)"
    )


def fetch(url: str, dest: Path) -> str:
    """Stream ``url`` into ``dest``; return the MD5 hex digest of what was written."""
    digest = hashlib.md5(usedforsecurity=False)
    total = 0
    try:
        with (
            urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
            dest.open("wb") as out,
        ):
            while chunk := response.read(_CHUNK):
                total += len(chunk)
                if total > MAX_BYTES:
                    raise DataError(f"{url} sent more than {MAX_BYTES} bytes; refusing it")
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DataError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}; {_offline_hint()}") from exc
    except urllib.error.URLError as exc:
        raise DataError(
            f"cannot download {url} ({exc.reason}): this machine looks offline or cannot "
            f"reach the host; {_offline_hint()}"
        ) from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise DataError(
            f"downloading {url} failed ({type(exc).__name__}: {exc}): the network is "
            f"unreachable or too slow; {_offline_hint()}"
        ) from exc
    except OSError as exc:
        raise DataError(f"downloading {url} to {dest} failed: {exc}") from exc
    return digest.hexdigest()


def safe_extract(archive: Path, dest: Path, top: str) -> None:
    """Extract the regular files under ``top/`` from a .tar.gz into ``dest``.

    Unsafe members (absolute paths, ``..``, links, devices) are refused even though the
    MD5 check already vouches for the archive: the check is cheap and the extractor should
    not depend on its caller having verified the input.
    """
    root = dest.resolve()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not parts or member.name.startswith(("/", "\\")) or ".." in parts:
                    raise DataError(f"{archive}: refusing unsafe archive member {member.name!r}")
                if parts[0] != top:
                    continue
                target = root.joinpath(*parts)
                if not target.resolve().is_relative_to(root):
                    raise DataError(f"{archive}: refusing unsafe archive member {member.name!r}")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise DataError(
                        f"{archive}: refusing archive member {member.name!r} (links and special files are not allowed)"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise DataError(f"{archive}: cannot read archive member {member.name!r}")
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(f"{archive}: corrupt archive ({exc})") from exc
    except OSError as exc:
        raise DataError(f"extracting {archive} into {dest} failed: {exc}") from exc


def download_cifar10(parent: Path, top: str) -> Path:
    """Download, verify and extract CIFAR-10 so that ``parent/top`` holds the batches."""
    final = parent / top
    if final.exists():
        raise DataError(f"{final} exists but is incomplete; remove it (or complete it) and try again")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".cifar10-download-", dir=parent))
    except OSError as exc:
        raise DataError(f"cannot create download folder {parent}: {exc}") from exc
    try:
        archive = staging / "cifar-10-python.tar.gz"
        md5 = fetch(CIFAR10_URL, archive)
        if md5 != CIFAR10_MD5:
            raise DataError(
                f"downloaded {CIFAR10_URL} has MD5 {md5}, expected {CIFAR10_MD5}; "
                "the download is corrupt or was tampered with"
            )
        safe_extract(archive, staging, top)
        if not (staging / top).is_dir():
            raise DataError(f"{CIFAR10_URL} did not contain a {top} folder")
        try:
            os.replace(staging / top, final)
        except OSError as exc:
            raise DataError(f"cannot move the extracted batches to {final}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
