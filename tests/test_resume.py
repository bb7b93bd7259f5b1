"""Epoch-level resume of FP32 runs: a run killed after an epoch continues from it and ends
with exactly the weights, history and loss of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from analognas.data import Split
from analognas.models import build_model
from analognas.space import ArchSpec, StageSpec
from analognas.training import train_model
from analognas.training._resume import ResumeFile

SPEC = ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1, 1, "bottleneck")), name="r")


class Killed(Exception):
    pass


def _data() -> Split:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 12, 12, generator=g)
    return Split(x, (x.mean(dim=(1, 2, 3)) > 0).long())


def _run(resume: ResumeFile | None, kill_at: int | None = None, **fast: bool) -> tuple[torch.nn.Module, object]:
    torch.manual_seed(1)
    model = build_model(SPEC, (1, 12, 12), 2)

    def on_epoch(m: torch.nn.Module, epoch: int) -> dict[str, float]:
        if epoch == kill_at:
            raise Killed  # dies before this epoch is saved: the previous one is on disk
        return {"marker": float(epoch)}

    res = train_model(model, _data(), epochs=4, lr=0.2, batch_size=16, momentum=0.9, weight_decay=5e-4, seed=3,
                      warmup_epochs=1.0, label_smoothing=0.1, on_epoch=on_epoch, resume=resume, **fast)
    return model, res


@pytest.mark.parametrize("fast", [{}, {"precision": "bf16", "channels_last": True}], ids=["fp32", "bf16-cl"])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path, fast: dict) -> None:
    ref_model, ref = _run(None, **fast)
    resume = ResumeFile(tmp_path / "run.partial.pt", {"run": "r", **fast})
    with pytest.raises(Killed):
        _run(resume, kill_at=3, **fast)
    assert resume.load() is not None and resume.load()["epoch"] == 2
    model, res = _run(resume, **fast)
    for (name, a), b in zip(ref_model.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert res.final_loss == ref.final_loss and res.steps == ref.steps  # type: ignore[attr-defined]
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in res.history]  # type: ignore[attr-defined]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in ref.history]  # type: ignore[attr-defined]
    assert [r["epoch"] for r in res.history] == [1, 2, 3, 4]  # type: ignore[attr-defined]


def test_a_foreign_or_torn_resume_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "run.partial.pt"
    other = ResumeFile(path, {"run": "other"})
    other.save(epoch=1)
    assert ResumeFile(path, {"run": "r"}).load() is None
    path.write_bytes(b"PK\x03\x04 torn")
    assert ResumeFile(path, {"run": "r"}).load() is None
    ref_model, _ = _run(None)
    model, _ = _run(ResumeFile(path, {"run": "r"}))
    assert all(torch.equal(a, b) for a, b in zip(ref_model.state_dict().values(), model.state_dict().values()))


def test_finished_fp32_and_hwa_runs_leave_no_resume_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline keeps the resume file beside the checkpoint it will write, and removes it."""
    from typer.testing import CliRunner

    from analognas.cli import app

    saved: list[Path] = []
    real_save = ResumeFile.save

    def spy(self: ResumeFile, **state: object) -> None:
        saved.append(self.path)
        real_save(self, **state)

    monkeypatch.setattr(ResumeFile, "save", spy)
    res = CliRunner().invoke(app, ["train", SPEC.to_json(), "--fidelity", "smoke", "--epochs", "3", "--hwa-epochs",
                                   "2", "--mode", "hwa", "--train-size", "128", "--test-size", "64",
                                   "--cache-dir", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    (ckpt,) = tmp_path.rglob("fp32-*.pt")
    (hwa,) = tmp_path.rglob("hwa-*.pt")
    partial = [ckpt.with_name(f"{ckpt.stem}.partial.pt")] * 2 + [hwa.with_name(f"{hwa.stem}.partial.pt")]
    assert saved == partial  # after FP32 epochs 1, 2 and HWA epoch 1
    assert not list(tmp_path.rglob("*.partial.pt"))


def test_noise_source_state_round_trips_the_next_draws() -> None:
    from analognas.analog._noise import NoiseSource

    src = NoiseSource(torch.Generator().manual_seed(5), reuse=2)
    for n in (1000, 3_000_000, 5_000_000, 4_000_000):  # crosses a bank refill
        src.standard_normal(n)
    state = src.state_dict()
    ahead = [src.standard_normal(n).clone() for n in (7, 4_000_000, 9_000_000, 11)]  # and a bigger bank
    other = NoiseSource(torch.Generator().manual_seed(99), reuse=2)
    other.load_state_dict(state)
    assert all(torch.equal(a, other.standard_normal(len(a))) for a in ahead)
    with pytest.raises(ValueError, match="reuse"):
        NoiseSource(torch.Generator(), reuse=4).load_state_dict(state)


@pytest.mark.parametrize("recipe", ["hwa-v2", "hwa-v1"])
def test_a_killed_hwa_run_resumes_to_the_uninterrupted_result(tmp_path: Path, recipe: str) -> None:
    """HWA noise (weight noise, output-noise bank, sampled range gradients) is restored
    with the run, so the resumed network is bit for bit the uninterrupted one."""
    from analognas.analog import calibrate_input_ranges, clip_weights_, get_recipe, noise_sources, to_analog

    def run(resume: ResumeFile | None, kill_at: int | None = None) -> torch.nn.Module:
        torch.manual_seed(1)
        model = to_analog(build_model(SPEC, (1, 12, 12), 2), get_recipe(recipe),
                          generator=torch.Generator().manual_seed(11))
        calibrate_input_ranges(model, _data().x[:32])

        def on_epoch(m: torch.nn.Module, epoch: int) -> dict[str, float]:
            if epoch == kill_at:
                raise Killed
            return {}

        train_model(model, _data(), epochs=3, lr=0.05, batch_size=16, momentum=0.9, weight_decay=5e-4, seed=4,
                    after_step=clip_weights_, on_epoch=on_epoch, resume=resume,
                    stateful={f"noise{i}": s for i, s in enumerate(noise_sources(model))})
        return model

    ref = run(None)
    resume = ResumeFile(tmp_path / "hwa.partial.pt", {"run": recipe})
    with pytest.raises(Killed):
        run(resume, kill_at=3)
    assert resume.load()["epoch"] == 2 and "noise0" in resume.load()["stateful"]
    resumed = run(resume)
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
