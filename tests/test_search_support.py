"""Shared set-up of the search tests: a real surrogate fitted on records the test writes.

The records are test input, not a mock: architectures of the space with targets from a
known function of the space's own encoding plus seeded noise, written in the records
store's format and fitted with `analognas.surrogate.fit_surrogate`, so the search sees a
surrogate of exactly the kind it will load in production. Also: a throwaway PostgreSQL
cluster and helpers to run the real CLI in subprocesses.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
ONE_S, ONE_H, ONE_D, ONE_MO = 1.0, 3600.0, 86_400.0, 2_592_000.0


def known_targets(x: np.ndarray, names: tuple[str, ...]) -> tuple[float, float, float]:
    """Accuracy at 1 day, AVM and spread as smooth functions of the encoding."""
    f = dict(zip(names, x))
    size = f["log10_params"]
    acc = 84.0 + 5.0 * math.tanh(2.0 * (size - 4.6)) - 0.35 * (f["depth"] - 14) ** 2 / 14 + 0.4 * f["stem_kernel"]
    avm = 1.2 + 0.06 * f["depth"] + 0.5 * f["bottleneck_fraction"]
    spread = 0.25 + 0.03 * f["depth"]
    return acc, avm, spread


def write_records(
    path: Path,
    space: Any,
    n: int,
    *,
    seed: int = 0,
    fidelity: Any = None,
    recipe: Any = None,
    drift: Any = None,
    noise: float = 0.3,
) -> Path:
    """`n` distinct feasible architectures of `space` as records (store format, one per line)."""
    from analognas.space import depth, encode, feature_names
    from analognas.surrogate import RecordStore, record_key

    rng = np.random.default_rng(seed)
    names = feature_names(space.max_stages)
    fid = fidelity.to_dict() if fidelity is not None else {"name": "synthetic"}
    fid_hash = fidelity.hash() if fidelity is not None else "synthetic0"
    rec_hash = recipe.hash() if recipe is not None else "recipe0"
    drift_dict = drift.to_dict() if drift is not None else {"times": [ONE_S, ONE_H, ONE_D, ONE_MO], "repeats": 3}
    drift_hash = drift.hash() if drift is not None else "drift0"
    times = [ONE_S, ONE_H, ONE_D, ONE_MO]
    store = RecordStore(path)
    seen: set[str] = set()
    for spec in space.sample(rng, n * 3):
        if spec.arch_id in seen:
            continue
        seen.add(spec.arch_id)
        x = encode(spec, space.max_stages, space.input_shape, space.num_classes, space.constraints.tile_size)
        acc, avm, spread = known_targets(x, names)
        acc += float(rng.normal(0, noise))
        a1 = acc + 0.7 * avm
        means = [a1, a1 - 0.2 * avm, acc, a1 - avm]
        c = space.cost(spec)
        key = record_key(spec.arch_id, fid_hash, rec_hash, drift_hash, 0)
        store.append(
            {
                "format": 1,
                "key": key,
                "arch_id": spec.arch_id,
                "spec": spec.to_dict(include_name=False),
                "space": {"name": space.name, "fingerprint": space.fingerprint},
                "dataset": {"name": "fashion-mnist"},
                "fidelity": fid,
                "fidelity_name": fid["name"],
                "fidelity_hash": fid_hash,
                "recipe": {"name": "hwa-v1"},
                "recipe_name": "hwa-v1",
                "recipe_hash": rec_hash,
                "drift": drift_dict,
                "drift_hash": drift_hash,
                "seed": 0,
                "fp32_accuracy": acc + 1.0,
                "hwa_accuracy": acc + 0.5,
                "accuracy": {"times": times, "mean": means, "std": [spread] * 4, "per_repeat": [means]},
                "avm": a1 - means[-1],
                "params": c.params,
                "macs": c.macs,
                "tiles": c.tiles,
                "depth": depth(spec),
                "wall_seconds": 1.0,
                "versions": {},
                "timestamp": "2026-01-01T00:00:00Z",
            }
        )
        if len(seen) == n:
            break
    return path


def fit_and_save(records: Path, space: Any, out: Path, folds: int = 3) -> Path:
    from analognas.surrogate import fit_surrogate, save_surrogate

    result = fit_surrogate(
        [records], space=space, drift_time=ONE_D, folds=folds, seed=0, models=("extra_trees",), feature_sets=("full",)
    )
    return save_surrogate(result.surrogate, out, force=True)


def verify_protocol() -> tuple[Any, Any, Any]:
    """The smallest honest measuring protocol: smoke fidelity on 128/64 images, 2 chips."""
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.training import get_fidelity

    fid = get_fidelity("smoke").with_overrides(train_size=128, test_size=64)
    drift = DriftEvalConfig(times=(ONE_S, ONE_H, ONE_D, ONE_MO), repeats=2)
    return fid, get_recipe("hwa-v1"), drift


# ------------------------------------------------------------------------------------
# The real CLI in a subprocess
# ------------------------------------------------------------------------------------
def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    env.update(extra)
    return env


def cli_command() -> list[str]:
    """The installed `analognas` console script (what users run), else the same entry point."""
    script = Path(sys.executable).parent / "analognas"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from analognas.cli import main; main()"]


def cli(args: list[str], cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli_command(), *args], cwd=cwd, env=cli_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def journal_trials(path: Path) -> list[dict[str, Any]]:
    """Trials as the journal holds them, read with Optuna itself (not our code)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(path)))
    out = []
    for s in storage.get_all_studies():
        for t in storage.get_all_trials(s._study_id):
            out.append(
                {
                    "number": t.number,
                    "state": t.state.name,
                    "params": t.params,
                    "values": t.values,
                    "uid": t.system_attrs.get("analognas:uid"),
                }
            )
    del optuna
    return out


# ------------------------------------------------------------------------------------
# A throwaway PostgreSQL cluster
# ------------------------------------------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """A running throwaway cluster: its URL, and stop/start for fault tests."""

    def __init__(self, prefix: list[str], pg_ctl: str, data: str, opts: str, log: str, url: str) -> None:
        self.prefix, self.pg_ctl, self.data, self.opts, self.log, self.url = prefix, pg_ctl, data, opts, log, url

    def start(self) -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", self.data, "-o", self.opts, "-w", "-t", "60", "-l", self.log, "start"],
            check=True,
            capture_output=True,
            timeout=90,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PgCluster]:
    """initdb + pg_ctl start on a free loopback port in a temp dir; stopped and removed at exit.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user
    (created by Debian's package) and every server command runs through `runuser`.
    """
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed; `bash scripts/setup.sh --test`")
    prefix: list[str] = []
    tmp = tempfile.mkdtemp(prefix="analognas-pg-")
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to own the test cluster")
        prefix = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    data, port = os.path.join(tmp, "data"), _free_port()
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    cluster = PgCluster(
        prefix, pg_ctl, data, opts, os.path.join(tmp, "log"), f"postgresql://postgres@127.0.0.1:{port}/postgres"
    )
    try:
        subprocess.run(
            [*prefix, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        yield cluster
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
