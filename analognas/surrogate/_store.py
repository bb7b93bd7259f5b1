"""Append-only JSONL record store that survives kills and concurrent writers.

A collection run can take days and is killed, restarted, and run from several processes
at once. The store is therefore built on three small guarantees:

* a record is ONE `os.write` of a complete line, made under an exclusive `flock` and
  followed by `fsync`: readers see whole lines or nothing of a record;
* a torn tail (a writer killed mid-write, or a disk that filled up) is never glued to the
  next record: the next append first terminates it with a newline, and readers count the
  torn line as bad and skip it, instead of crashing or losing later records;
* measuring is guarded by a claim: a `flock` on a per-key file held for as long as the
  measurement runs. The kernel drops the lock when its holder dies, so a killed worker's
  item is simply taken again by the next process that asks; no pid files to go stale.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple


class BadLine(NamedTuple):
    """A line that could not be used: where it is and why (shown to the user, then skipped)."""

    path: str
    line: int
    reason: str


@dataclass
class StoreContents:
    """The usable records of one file, in file order, and the lines that were skipped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    """1-based line of each record, so later checks can point at the line too."""


def encode_record(record: dict[str, Any]) -> bytes:
    """Canonical one-line JSON; NaN/inf are refused (they are not JSON and mean a bug)."""
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"record {record.get('key')!r} holds a non-finite number: {exc}") from None
    return (text + "\n").encode()


def parse_lines(data: bytes, path: str) -> StoreContents:
    """Split a store's bytes into records and bad lines; never raises on content."""
    out = StoreContents()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline, else a torn last line
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "msg", "not UTF-8")
            out.bad_lines.append(BadLine(path, i, f"invalid JSON ({reason})"))
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
            out.bad_lines.append(BadLine(path, i, "not a record (no 'key')"))
            continue
        out.records.append(rec)
        out.line_numbers.append(i)
    if tail.strip():
        out.bad_lines.append(BadLine(path, len(lines) + 1, "truncated last line (interrupted write)"))
    return out


class RecordStore:
    """One JSONL file of records keyed by `record["key"]`, plus its claim folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def claims_dir(self) -> Path:
        return self.path.with_name(f".{self.path.name}.claims")

    # --- writing ----------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Append one complete line atomically with respect to other writers, then fsync."""
        data = encode_record(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # close a torn line left by a killed writer
            view = memoryview(data)
            while view:  # one write in practice; the loop only guards a short write
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the flock

    # --- reading ----------------------------------------------------------------------
    def read(self) -> StoreContents:
        """All records (shared lock, so no writer is half-way through a line we read)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return StoreContents()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return parse_lines(b"".join(chunks), str(self.path))

    def keys(self) -> set[str]:
        return {r["key"] for r in self.read().records}

    # --- claims -----------------------------------------------------------------------
    @contextmanager
    def claim(self, key: str) -> Iterator[bool]:
        """Yield True if this process now owns `key` (nobody else is measuring it).

        The claim is an exclusive, non-blocking `flock` on `<store>.claims/<key>.lock`.
        After locking we check the path still names the inode we locked: a previous owner
        unlinks the file when done, and locking an unlinked inode would claim nothing.
        """
        self.claims_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.claims_dir / f"{key}.lock"
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                yield False
                return
            try:
                same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            os.write(fd, f"pid {os.getpid()} host {socket.gethostname()} since {stamp}\n".encode())
            yield True
        finally:
            # Unlink while still holding the lock: whoever locks the old inode afterwards
            # sees it is no longer at the path and retries on a fresh file.
            lock_path.unlink(missing_ok=True)
            os.close(fd)


def work_through(
    store: RecordStore,
    keys: Iterable[str],
    measure: Callable[[str], None],
    done_keys: Callable[[], set[str]],
    poll_seconds: float = 1.0,
) -> None:
    """Call `measure(key)` once for every key not in `done_keys()`, each under its claim.

    Keys another process is measuring are skipped and looked at again after `poll_seconds`;
    the call returns when every key is done or was measured here (`measure` appends the
    record, or a failure record, before returning). A key whose claimer died is free again
    and is measured here.
    """
    remaining = list(keys)
    attempted: set[str] = set()
    while remaining:
        done = done_keys() | attempted
        remaining = [k for k in remaining if k not in done]
        progressed = False
        for key in remaining:
            with store.claim(key) as mine:
                if not mine or key in done_keys():  # re-check: it may have landed meanwhile
                    continue
                progressed = True
                attempted.add(key)
                measure(key)
        if remaining and not progressed:
            time.sleep(poll_seconds)


def failed_path(records_path: str | Path) -> Path:
    """`x.jsonl` -> `x.failed.jsonl`: failures are kept beside, never mixed with, records."""
    p = Path(records_path)
    stem = p.name[: -len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    return p.with_name(f"{stem}.failed.jsonl")
