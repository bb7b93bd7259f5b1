"""Where a study lives, and the lock that makes a global budget exact.

Default: an Optuna journal file in the run folder, which several processes on one machine
can share. `--storage URL` takes any Optuna RDB URL (PostgreSQL and MySQL for many
machines). The search writes each finished trial once (`_search`), so the journal costs
almost nothing: `benchmarks/search_speed.py`, 200 trials, CLI start-up included, on the
2-core project machine: memory 4.8 s, journal 4.9 s, SQLite 9.3 s, PostgreSQL 13.9 s
(Optuna's RDB layer issues a dozen statements per parameter of every trial).

Optuna's own journal lock is a symlink that a killed process leaves behind, so the next
writer waits out a 30 s grace period; ours is `flock`, which the kernel drops the moment
its holder dies (SIGKILL included).

The *budget gate* is a second, study-wide mutex held around "count the finished trials,
then write at most `budget - count` more". Every trial is written under it, so the
study can never exceed its budget, and every worker keeps going until the count reaches
it, so it never stops short. It is `flock` on a file beside a journal or SQLite database,
a session-level advisory lock on PostgreSQL (`pg_advisory_lock`) and a named lock on
MySQL (`GET_LOCK`); the database drops both when a killed worker's connection closes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analognas._errors import ConfigError

#: `--storage` values that mean "keep the study in this process only" (benchmarks, no resume).
MEMORY = ("memory", ":memory:")
JOURNAL_NAME = "study.journal"


class FlockLock:
    """An exclusive `flock` on `path` (created if missing); released by the kernel on death.

    Duck-types Optuna's journal-file lock (`acquire`/`release`), so it can replace it.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> FlockLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _NoGate:
    """One process owns the study (in-memory storage): nothing to exclude."""

    def __enter__(self) -> _NoGate:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None


class _FileGate(_NoGate):
    def __init__(self, path: Path) -> None:
        self._lock = FlockLock(path)

    def __enter__(self) -> _FileGate:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class _SqlGate(_NoGate):
    """A session-level database lock on a connection of its own (not Optuna's pool).

    Optuna locks the study row while it numbers a new trial, so holding *that* row here
    would deadlock; an advisory/named lock is a separate lock space and cannot.
    """

    def __init__(self, engine: Any, dialect: str, study_name: str) -> None:
        self._engine = engine
        self._conn: Any = None
        digest = hashlib.sha256(f"analognas-budget:{study_name}".encode()).digest()
        if dialect == "postgresql":
            self._key: Any = int.from_bytes(digest[:8], "big", signed=True)
            self._lock_sql, self._unlock_sql = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
        else:  # mysql / mariadb: lock names are at most 64 characters
            self._key = "analognas-" + digest.hex()[:40]
            self._lock_sql, self._unlock_sql = "SELECT GET_LOCK(:k, -1)", "SELECT RELEASE_LOCK(:k)"

    def __enter__(self) -> _SqlGate:
        from sqlalchemy import text

        if self._conn is None:
            self._conn = self._engine.connect()
        self._conn.execute(text(self._lock_sql), {"k": self._key})
        self._conn.commit()
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        self._conn.execute(text(self._unlock_sql), {"k": self._key})
        self._conn.commit()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()  # ends the session: the database drops any lock it still held
        except Exception:
            pass  # the connection is already gone, and with it the lock
        self._engine.dispose()


@dataclass
class OpenedStorage:
    """An Optuna storage, its budget gate, and how to name it without secrets."""

    storage: Any
    kind: str  # "journal" | "rdb" | "memory"
    display: str
    """URL or path with any password masked: safe for run.json, messages and logs."""
    path: Path | None = None
    """The journal file or SQLite database, when the study lives in a local file."""
    dialect: str | None = None
    _gate_factory: Any = None

    def gate(self, study_name: str) -> Any:
        return self._gate_factory(study_name) if self._gate_factory else _NoGate()


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***; the text itself if it does not parse."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def open_storage(storage: str | None, run_dir: Path) -> OpenedStorage:
    """Open (and for files, create) the study storage; every failure is one `ConfigError` line."""
    if storage is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / JOURNAL_NAME
        return _open_journal(path)
    text = storage.strip()
    if text.lower() in MEMORY:
        import optuna

        return OpenedStorage(optuna.storages.InMemoryStorage(), "memory", "memory")
    return _open_rdb(text)


def _open_journal(path: Path) -> OpenedStorage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    try:
        backend = JournalFileBackend(str(path), lock_obj=FlockLock(f"{path}.lock"))  # type: ignore[arg-type]
        storage = JournalStorage(backend)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot open the study journal {path}: {exc}") from None
    return OpenedStorage(
        storage, "journal", str(path), path=path, _gate_factory=lambda _name: _FileGate(Path(f"{path}.gate"))
    )


def _open_rdb(url: str) -> OpenedStorage:
    import optuna
    import sqlalchemy
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"--storage {url!r} is not a database URL (expected e.g. postgresql://user@host:5432/db,"
            " mysql://user@host/db or sqlite:///path/study.db)"
        ) from None
    display = parsed.render_as_string(hide_password=True)
    dialect = parsed.get_backend_name()
    if dialect not in ("postgresql", "mysql", "mariadb", "sqlite"):
        raise ConfigError(
            f"--storage {display}: unsupported database {dialect!r}; an exact shared budget needs"
            " PostgreSQL, MySQL/MariaDB or SQLite"
        )
    path: Path | None = None
    if dialect == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise ConfigError(f"--storage {display}: an in-memory SQLite database cannot be shared; use a file path")
        path = Path(db)
        if not path.parent.is_dir():
            raise ConfigError(f"--storage {display}: folder {path.parent} does not exist")
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if dialect in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": 10}
    lock_kind = "postgresql" if dialect == "postgresql" else "mysql"
    try:
        # Workers started together would all create Optuna's tables at once, and PostgreSQL
        # answers concurrent CREATEs with "duplicate key" errors: create them one at a time.
        if dialect == "sqlite":
            assert path is not None
            schema_gate: Any = _FileGate(Path(f"{path}.gate"))
        else:
            lock_engine = sqlalchemy.create_engine(parsed, poolclass=sqlalchemy.pool.NullPool, **_connect(kwargs))
            schema_gate = _SqlGate(lock_engine, lock_kind, "__optuna_schema__")
        try:
            with schema_gate:
                rdb = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        finally:
            schema_gate.close()
    except NoSuchModuleError:
        raise ConfigError(f"--storage {display}: unknown database dialect {parsed.drivername!r}") from None
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        hint = " (pip install 'psycopg[binary]')" if dialect == "postgresql" else ""
        raise ConfigError(f"--storage {display}: database driver {missing!r} is not installed{hint}") from None
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError, RuntimeError, ValueError, OSError) as exc:
        raise ConfigError(f"cannot open storage {display}: {_first_line(exc)}") from None
    if dialect == "sqlite":
        assert path is not None
        gate_path = Path(f"{path}.gate")
        factory: Any = lambda _name: _FileGate(gate_path)
    else:
        engine = rdb.engine

        def factory(name: str) -> _SqlGate:
            lock_engine = sqlalchemy.create_engine(engine.url, poolclass=sqlalchemy.pool.NullPool, **_connect(kwargs))
            return _SqlGate(lock_engine, lock_kind, name)

    return OpenedStorage(rdb, "rdb", display, path=path, dialect=dialect, _gate_factory=factory)


def _connect(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"connect_args": kwargs["connect_args"]} if "connect_args" in kwargs else {}


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text.split(" (Background on this error")[0][:300] or type(exc).__name__
