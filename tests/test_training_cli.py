"""``detector-app train`` and ``detector-app eval`` on a small generated project."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.cli.main import main
from detector_app.storage import Project


def test_train_then_eval(shapes_project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--project", str(shapes_project_dir), "--parent", "scratch", "--epochs", "1", "--size", "64",
                 "--batch-size", "4", "--threads", "1", "--val-share", "0.25", "--activate"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "run 1: 9 training / 3 validation images" in out.out
    assert "model version v1 (id 1) saved to" in out.out and "and activated" in out.out
    assert "mAP@[.5:.95]" in out.out and "AP50 circle" in out.out
    assert "epoch 1: loss" in out.out
    assert "3/3" in out.err and "cls=" in out.err  # the tqdm bar, with the loss parts
    with Project.open(shapes_project_dir, create=False) as project:
        assert project.repo.active_model_version().name == "v1"

    assert main(["eval", "--project", str(shapes_project_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model version v1 on 3 images")
    assert "mAP@[.5:.95]" in out and "triangle" in out


def test_train_errors_are_one_line(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Project.open(project_dir).close()
    assert main(["train", "--project", str(project_dir), "--parent", "scratch", "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no reviewed images to train on") and "\n" not in err
    assert main(["eval", "--project", str(project_dir)]) == 2
    assert "no active model version" in capsys.readouterr().err
