"""Protocol v2 training settings: warm-up schedule, label smoothing, bf16, channels-last, hashes."""

from __future__ import annotations

import math

import pytest
import torch

from analognas import ConfigError
from analognas.data import Split
from analognas.models import build_model
from analognas.space import ArchSpec, StageSpec
from analognas.training import Fidelity, get_fidelity, train_model
from analognas.training._loop import lr_factor

SMALL = ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1, 2, "bottleneck")), name="small")


def test_schedule_warms_up_linearly_then_follows_the_cosine_to_zero() -> None:
    f = lr_factor(100, 10)
    warm = [f(s) for s in range(10)]
    assert warm == sorted(warm) and warm[0] == pytest.approx(1 / 11) and f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5) and f(100) == pytest.approx(0.0, abs=1e-12)
    # no warm-up is exactly the v1 schedule
    g = lr_factor(100, 0)
    assert all(g(s) == pytest.approx(0.5 * (1 + math.cos(math.pi * s / 100))) for s in range(101))


def test_v1_hashes_are_unchanged_and_v2_fields_enter_the_hash() -> None:
    # the hashes v1 records and checkpoints were stored under
    assert get_fidelity("low").hash() == "cc48de5a1f" and get_fidelity("smoke").hash() == "eeb025e25b"
    low = get_fidelity("low")
    assert not low.is_v2 and low.fp32_hash() == low.hash()
    std = get_fidelity("standard")
    assert std.is_v2 and std.precision == "bf16" and std.warmup_epochs > 0
    # HWA settings do not change the FP32 weights: they share an FP32 checkpoint
    other = Fidelity(**{**std.to_dict(), "hwa_epochs": std.hwa_epochs + 1})
    assert other.fp32_hash() == std.fp32_hash() and other.hash() != std.hash()
    assert Fidelity(**{**std.to_dict(), "epochs": 5}).fp32_hash() != std.fp32_hash()


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("precision", "fp8", "unknown precision"),
        ("label_smoothing", 1.0, "label_smoothing"),
        ("warmup_epochs", 99.0, "warmup_epochs"),
        ("lr", float("inf"), "lr must be a finite"),
    ],
)
def test_bad_v2_settings_are_refused(field: str, value: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Fidelity(**{**get_fidelity("standard").to_dict(), field: value})


def _task(n: int = 256) -> Split:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 12, 12, generator=g)
    y = (x[:, :, :6].mean(dim=(1, 2, 3)) > x[:, :, 6:].mean(dim=(1, 2, 3))).long()
    return Split(x, y)


@pytest.mark.parametrize("precision,channels_last", [("fp32", True), ("bf16", False), ("bf16", True)])
def test_fast_settings_train_the_same_net_and_leave_fp32_contiguous_weights(
    precision: str, channels_last: bool
) -> None:
    split = _task()
    losses = {}
    for variant in (("fp32", False), (precision, channels_last)):
        torch.manual_seed(0)
        model = build_model(SMALL, (1, 12, 12), 2)
        res = train_model(
            model,
            split,
            epochs=4,
            lr=0.05,
            batch_size=32,
            momentum=0.9,
            weight_decay=0.0,
            seed=1,
            warmup_epochs=1,
            label_smoothing=0.1,
            precision=variant[0],
            channels_last=variant[1],
            on_epoch=lambda m, e: {"probe": float(e)},
        )
        losses[variant] = res.final_loss
        assert [h["probe"] for h in res.history] == [1.0, 2.0, 3.0, 4.0]
        assert all(p.dtype == torch.float32 and p.is_contiguous() for p in model.parameters())
    base, fast = losses.values()
    assert fast < math.log(2) and abs(fast - base) < 0.15


@pytest.mark.slow
def test_refused_checkpoints_give_one_line_without_torchs_unsafe_hint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pickle
    import subprocess
    import sys

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, evil, pickle_module=pickle)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(evil.read_bytes()[:50])
    (tmp_path / "out").mkdir()
    for path, needle in ((evil, "pickled Python objects"), (trunc, "corrupt or truncated")):
        out = tmp_path / "out" / f"{path.stem}_export.py"
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from analognas.cli import main; main()",
                "export",
                "resnet20",
                "--out",
                str(out),
                "--weights",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2 and "pwned" not in proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "weights_only" not in lines[0], proc.stderr
        assert not out.exists()


def test_no_arguments_shows_help_without_an_empty_error_line() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from analognas.cli import main; main()"], capture_output=True, text=True, timeout=60
    )
    assert "Usage" in proc.stdout + proc.stderr and "error:" not in proc.stderr and proc.returncode == 2


def test_lookup_commands_pin_blas_threads_unless_the_user_chose() -> None:
    import os

    from analognas.cli import THREAD_VARS, _pin_threads

    saved = {v: os.environ.pop(v, None) for v in THREAD_VARS}
    try:
        _pin_threads(["train", "resnet32"])
        assert not any(v in os.environ for v in THREAD_VARS)
        os.environ["OMP_NUM_THREADS"] = "4"
        _pin_threads(["search", "--budget", "5"])
        assert os.environ["OMP_NUM_THREADS"] == "4" and os.environ["OPENBLAS_NUM_THREADS"] == "1"
    finally:
        for v, val in saved.items():
            os.environ.pop(v, None)
            if val is not None:
                os.environ[v] = val


@pytest.mark.slow
def test_main_job_runs_from_any_folder_and_keeps_runs_there(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", "from analognas.cli import main; main()", "search", "--budget", "5", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "resnet_like-accuracy-s0" / "best.json").is_file()


_HUGE_SPECS = {
    "blocks": '{"stem": {"width": 16, "kernel": 3}, "stages": [{"width": 16, "blocks": 1000000}]}',
    "width": '{"stem": {"width": 16, "kernel": 3}, "stages": [{"width": 1000000, "blocks": 2}]}',
    "params": '{"stem": {"width": 16, "kernel": 3}, "stages": [{"width": 60000, "blocks": 2}]}',
}


@pytest.mark.parametrize("kind", sorted(_HUGE_SPECS))
@pytest.mark.parametrize("command", [["arch", "show"], ["export"], ["evaluate"]])
def test_huge_specs_are_refused_in_a_second_before_anything_is_built(tmp_path, kind, command) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from analognas.cli import app

    spec = tmp_path / "huge.json"
    spec.write_text(_HUGE_SPECS[kind])
    extra = {"export": ["--out", str(tmp_path / "m.py")], "evaluate": ["--cache-dir", str(tmp_path / "c")]}
    res = CliRunner().invoke(app, [*command, str(spec), *extra.get(command[0], [])])
    assert res.exit_code == 2, res.output
    assert "limit" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.py").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("widen = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0]", "widen = [1.0, inf]", "finite"),
        ("widen = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0]", "widen = [1.0, 1e300]", "finite"),
        ("blocks = { min = 1, max = 5 }", "blocks = { min = 1, max = 1000000 }", "limit"),
        ("width = { min = 8, max = 64, step = 8 }", "width = { min = 1, max = 1000000000000 }", "limit"),
    ],
)
def test_space_files_with_unbounded_numbers_are_refused(tmp_path, old: str, new: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from typer.testing import CliRunner

    from analognas.cli import app

    text = (Path(__file__).resolve().parents[1] / "search_spaces" / "resnet_like.toml").read_text()
    assert old in text
    f = tmp_path / "s.toml"
    f.write_text(text.replace(old, new))
    for command in (
        ["space", "show", str(f)],
        ["search", "--space", str(f), "--budget", "2", "--runs-dir", str(tmp_path / "runs")],
    ):
        res = CliRunner().invoke(app, command)
        assert res.exit_code == 2 and needle in res.stderr, res.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "needle"), [(["--drift", "1e30"], "beyond 10 years"), (["--repeats", "100000"], "limit")]
)
def test_absurd_drift_times_and_repeat_counts_are_refused(tmp_path, args: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from analognas.cli import app

    res = CliRunner().invoke(app, ["evaluate", "T500", *args, "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 2 and needle in res.stderr and not (tmp_path / "c").exists()


@pytest.mark.slow
def test_unwritable_outputs_give_one_line_naming_the_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from analognas.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["search", "--budget", "3", "--runs-dir", str(tmp_path), "-q"]).exit_code == 0
    cases = [
        (["export", "resnet20", "--out", "/sys/analognas-x.py"], "/sys/analognas-x"),
        (["search", "--budget", "3", "--runs-dir", "/sys/analognas-runs", "-q"], "/sys/analognas-runs"),
        (
            ["dashboard", str(tmp_path / "resnet_like-accuracy-s0"), "--out", "/sys/analognas-d.html"],
            "/sys/analognas-d",
        ),
        (
            ["evaluate", "T500", "--fidelity", "smoke", "--epochs", "1", "--train-size", "64", "--test-size", "32",
             "--repeats", "1", "--cache-dir", "/sys/analognas-cache", "-q"],
            "/sys/analognas-cache",
        ),
        (
            ["collect", "--space", "tiny", "--n", "1", "--fidelity", "smoke", "--train-size", "64", "--test-size",
             "32", "--repeats", "1", "--records", "/sys/analognas-r.jsonl", "--cache-dir", str(tmp_path / "c"), "-q"],
            "/sys/analognas-r",
        ),
    ]
    for args, needle in cases:
        res = runner.invoke(app, args)
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and "cannot write" in lines[0] and needle in lines[0], res.output
        assert "Traceback" not in res.output


def test_export_makes_a_missing_folder_like_dashboard_but_not_on_refusal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from analognas.cli import app

    runner = CliRunner()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    refused = runner.invoke(app, ["export", "resnet20", "--out", str(tmp_path / "no" / "m.py"), "--weights", str(bad)])
    assert refused.exit_code == 2 and not (tmp_path / "no").exists()
    ok = runner.invoke(app, ["export", "resnet20", "--out", str(tmp_path / "new" / "sub" / "m.py")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "new" / "sub" / "m.py").is_file() and (tmp_path / "new" / "sub" / "m.json").is_file()


@pytest.mark.slow
def test_a_v1_checkpoint_never_serves_a_v2_request(tmp_path) -> None:
    """A protocol-v1 HWA checkpoint copied under the name of a v2 one is refused."""
    import shutil

    from typer.testing import CliRunner

    from analognas.cli import app
    from analognas.training import CheckpointKey, CheckpointStore

    tiny = ["--train-size", "200", "--test-size", "100", "--epochs", "1", "--hwa-epochs", "1", "--batch-size", "50"]
    cache = tmp_path / "c"
    res = CliRunner().invoke(
        app, ["train", "T500", "--mode", "hwa", "--recipe", "hwa-v1", "--fidelity", "smoke", *tiny,
              "--cache-dir", str(cache), "-q"]
    )
    assert res.exit_code == 0, res.output
    from analognas.analog import get_recipe
    from analognas.models import resolve_spec
    from analognas.training import get_fidelity

    spec = resolve_spec("T500")
    fid = get_fidelity("smoke").with_overrides(train_size=200, test_size=100, epochs=1, hwa_epochs=1, batch_size=50)
    store = CheckpointStore(cache)
    v1 = store.paths(CheckpointKey(spec.arch_id, "fashion-mnist", "hwa", get_recipe("hwa-v1").hash(), fid.hash(), 0))
    v2 = store.paths(CheckpointKey(spec.arch_id, "fashion-mnist", "hwa", get_recipe("hwa-v2").hash(), fid.hash(), 0))
    for src, dst in zip(v1, v2, strict=True):
        shutil.copy(src, dst)
    before = v2[1].read_bytes()
    again = CliRunner().invoke(
        app, ["train", "T500", "--mode", "hwa", "--recipe", "hwa-v2", "--fidelity", "smoke", *tiny,
              "--cache-dir", str(cache), "-q"]
    )
    assert again.exit_code == 2
    lines = again.output.strip().splitlines()
    assert len(lines) == 1 and "recipe hwa-v1 v1" in lines[0] and "refusing to mix protocols" in lines[0]
    assert v2[1].read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [
        ["train", "T500"],
        ["evaluate", "T500"],
        ["compare", "T500", "resnet32"],
        ["collect", "--space", "resnet_like", "--n", "1"],
        ["search", "--budget", "2", "--verify", "1"],
    ],
)
@pytest.mark.parametrize("device, needle", [("cuda", "no CUDA device is available"), ("tpu", "unknown device")])
def test_device_refusals_are_one_line(tmp_path, monkeypatch, command, device, needle) -> None:
    """`--device cuda` without a GPU (or an unknown device): one line, exit 2, nothing written."""
    import torch
    from typer.testing import CliRunner

    from analognas.cli import app

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    flag = "--verify-device" if command[0] == "search" else "--device"
    extra = [] if command[0] in ("search", "collect") else ["--cache-dir", str(tmp_path / "c")]
    res = CliRunner().invoke(app, [*command, flag, device, *extra])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.output
    assert list(tmp_path.iterdir()) == []


def test_auto_device_is_cpu_here_and_results_say_so() -> None:
    import torch

    from analognas._device import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected and resolve_device("CPU").type == "cpu"


def _limited_run(args: list[str], cwd, limit: int):
    """Run the CLI in a subprocess whose file-size limit makes any larger write fail (EFBIG),
    the same way a full disk fails a write: a real kernel error, no mock."""
    import resource
    import signal
    import subprocess
    import sys

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = "from analognas.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=limit_files, timeout=300)


@pytest.mark.parametrize(
    "args, target",
    [
        (["export", "T500", "--out", "out/t500.py"], "out/t500.py"),
        (["dashboard", "resnet_like-accuracy-s0", "--out", "out/d.html"], "out/d.html"),
    ],
)
@pytest.mark.slow
def test_a_failed_write_leaves_no_temp_file(tmp_path, args, target) -> None:
    """A write that fails half-way: one line naming the output, exit 2, no temp file left."""
    if args[0] == "dashboard":
        res = _limited_run(["search", "--budget", "4", "--runs-dir", "runs"], tmp_path, 1 << 30)
        assert res.returncode == 0, res.stderr
        args = [*args, "--runs-dir", "runs"]
    res = _limited_run(args, tmp_path, 4096)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {target}: File too large"), res.stderr
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []


def test_verify_fidelity_names_are_the_fidelities() -> None:
    from analognas.search import check_verify_fidelity
    from analognas.training import FIDELITIES

    for name in FIDELITIES:
        assert check_verify_fidelity(name) == name
    with pytest.raises(ConfigError, match="choose one of"):
        check_verify_fidelity("ultra")


@pytest.mark.slow
def test_an_installed_wheel_finds_its_spaces_and_surrogate(tmp_path) -> None:
    """Build the real wheel, install it under a fresh prefix, and run the README's main
    command from an empty folder with that installed copy (not this checkout)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    wheels, prefix, work = tmp_path / "wheels", tmp_path / "prefix", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = tmp_path / "src"
    shutil.copytree(root, build, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "logs", "build", "*.egg-info",
                                                               "benchmarks", "__pycache__", ".ruff_cache"))
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(build)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("analognas-*.whl")
    import zipfile

    # the fused analog kernels are compiled from this source on first use
    assert "analognas/analog/_kernels.c" in zipfile.ZipFile(wheel).namelist()
    # install by hand, as an installer lays a wheel out (purelib -> site-packages, the
    # .data/data tree -> the prefix): `pip install --prefix` would uninstall the
    # environment's own (editable) analognas first
    site = prefix / "lib" / "python3.11" / "site-packages"
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            head, _, rest = name.partition(".data/data/")
            dest = prefix / rest if rest and "/" not in head else site / name
            if name.endswith("/"):
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(name))
    assert (prefix / "share" / "analognas" / "search_spaces" / "resnet_like.toml").is_file()
    code = (
        f"import sys; sys.prefix = {str(prefix)!r}; import analognas, analognas._shipped as s;"
        f" assert analognas.__file__.startswith({str(site)!r}), analognas.__file__;"
        " from analognas.cli import main; sys.argv = ['analognas', 'search', '--budget', '5', '-q', '--json']; main()"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (work / "runs").is_dir() and not (work / "surrogates").exists()
