"""The record store under the abuse a days-long collection meets: kills and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from analognas.surrogate import RecordStore, failed_path, work_through

BIG = "x" * 70_000  # a line far larger than a page or a pipe buffer


def _record(key: str, writer: int = 0) -> dict:
    return {"key": key, "writer": writer, "pid": os.getpid(), "payload": BIG}


def _append_many(path: str, writer: int, count: int) -> None:
    store = RecordStore(path)
    for i in range(count):
        store.append(_record(f"w{writer}-{i}", writer))


def _measure_all(path: str, keys: list[str], writer: int, start: mp.Barrier) -> None:
    store = RecordStore(path)
    start.wait()  # all workers begin together, so they really compete for the same keys

    def measure(key: str) -> None:
        time.sleep(0.005)  # long enough that the others try the same key meanwhile
        store.append(_record(key, writer))

    work_through(store, keys, measure, store.keys, poll_seconds=0.05)


def _hold_claim(path: str, key: str, ready: mp.Event) -> None:
    with RecordStore(path).claim(key) as mine:
        assert mine
        ready.set()
        time.sleep(60)


def _lines(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.split(b"\n")[:-1]]


def test_concurrent_appends_are_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = _lines(path)  # every line parses: no interleaved or torn writes
    assert len(rows) == 100
    assert {r["key"] for r in rows} == {f"w{w}-{i}" for w in range(4) for i in range(25)}
    assert all(r["payload"] == BIG for r in rows)


def test_concurrent_workers_measure_each_key_once(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    keys = [f"arch{i:02d}" for i in range(30)]
    RecordStore(path).append(_record("arch00", writer=-1))  # already recorded before the run
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_measure_all, args=(str(path), keys, w, start)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = _lines(path)
    assert sorted(r["key"] for r in rows) == keys  # all measured, none twice
    assert next(r for r in rows if r["key"] == "arch00")["writer"] == -1
    assert len({r["writer"] for r in rows if r["writer"] >= 0}) > 1  # the work was shared


def test_resume_skips_recorded_keys(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "r.jsonl")
    for k in ("a", "b"):
        store.append(_record(k))
    measured: list[str] = []

    def measure(key: str) -> None:
        measured.append(key)
        store.append(_record(key))

    work_through(store, ["a", "b", "c", "d"], measure, store.keys)
    assert measured == ["c", "d"]
    measured.clear()
    work_through(store, ["a", "b", "c", "d"], measure, store.keys)
    assert measured == []


def test_torn_last_line_is_counted_and_next_append_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    store = RecordStore(path)
    store.append({"key": "a", "v": 1})
    with open(path, "ab") as fh:  # a writer killed half-way through its line
        fh.write(b'{"key": "b", "v": ')
    got = store.read()
    assert [r["key"] for r in got.records] == ["a"]
    assert len(got.bad_lines) == 1 and "truncated" in got.bad_lines[0].reason and got.bad_lines[0].line == 2
    store.append({"key": "c", "v": 3})
    got = store.read()
    assert [r["key"] for r in got.records] == ["a", "c"]
    assert len(got.bad_lines) == 1 and "invalid JSON" in got.bad_lines[0].reason
    assert path.read_bytes().endswith(b'{"key":"c","v":3}\n')


def test_garbage_and_non_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"key": "a"}\n\nnot json\n[1, 2]\n{"no_key": 1}\n\xff\xfe\n{"key": "b"}\n')
    got = RecordStore(path).read()
    assert [r["key"] for r in got.records] == ["a", "b"]
    assert [b.line for b in got.bad_lines] == [3, 4, 5, 6]


def test_non_finite_numbers_are_refused(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "r.jsonl")
    with pytest.raises(ValueError, match="non-finite"):
        store.append({"key": "a", "acc": float("nan")})
    assert store.read().records == []


def test_claim_of_a_killed_process_is_retaken(tmp_path: Path) -> None:
    path = str(tmp_path / "r.jsonl")
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_claim, args=(path, "k", ready))
    holder.start()
    try:
        assert ready.wait(30)
        with RecordStore(path).claim("k") as mine:
            assert not mine  # the holder is alive and measuring
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        with RecordStore(path).claim("k") as mine:
            assert mine  # the kernel dropped the dead holder's lock
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join()


def test_failed_path() -> None:
    assert failed_path("surrogates/records/a-b-low.jsonl") == Path("surrogates/records/a-b-low.failed.jsonl")
    assert failed_path("x.log") == Path("x.log.failed.jsonl")


def test_default_surrogate_errors_name_the_folders_they_searched(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A drift time no surrogate predicts is one line listing the times there, and it names
    the shipped folder only when surrogates from it are among those listed."""
    import analognas.surrogate._surrogate as mod
    from analognas.surrogate import SurrogateError

    user, shipped = tmp_path / "surrogates", tmp_path / "shipped"
    user.mkdir()
    shipped.mkdir()
    monkeypatch.setattr(mod, "SURROGATES_DIR", user)
    monkeypatch.setattr(mod, "SHIPPED_SURROGATES_DIR", shipped)

    def put(folder, name, drift_time, fingerprint="fp"):  # type: ignore[no-untyped-def]
        doc = {"schema": {"space_fingerprint": fingerprint}, "meta": {"created": "2026"}, "drift_time": drift_time}
        (folder / name).write_text(json.dumps(doc))

    with pytest.raises(SurrogateError, match="or shipped with analognas"):
        mod.default_surrogate_path(space_fingerprint="fp")  # none anywhere: both folders were searched
    put(user, "day.json", 86400.0)
    put(shipped, "other-space.json", 2592000.0, fingerprint="elsewhere")
    with pytest.raises(SurrogateError) as err:
        mod.default_surrogate_path(space_fingerprint="fp", drift_time=3600.0)
    assert "(those there predict 1d)" in str(err.value) and "shipped" not in str(err.value)
    put(shipped, "month.json", 2592000.0)
    with pytest.raises(SurrogateError) as err:
        mod.default_surrogate_path(space_fingerprint="fp", drift_time=3600.0)
    assert "or shipped with analognas predicts accuracy 1h" in str(err.value)
    assert "(those there predict 1d, 1mo)" in str(err.value)
    assert mod.default_surrogate_path(space_fingerprint="fp", drift_time=2592000.0) == shipped / "month.json"
