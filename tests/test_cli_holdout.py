"""``detector-app holdout`` and ``detector-app activate`` through ``main``: output, errors as one line, no torch
for the holdout."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.cli.main import main
from detector_app.storage import Project

from .test_cli_startup import run_main


def test_holdout_is_chosen_once_then_grown(shapes_project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = str(shapes_project_dir)
    assert main(["holdout", "--project", project]) == 0
    first = capsys.readouterr().out
    assert first.startswith("holdout: 2 images (2 reviewed, scored), 2 added now")
    assert main(["holdout", "--project", project, "--seed", "7"]) == 0
    assert capsys.readouterr().out.startswith("holdout: 2 images (2 reviewed, scored)\n")  # not re-chosen
    assert main(["holdout", "--project", project, "--grow", "2"]) == 0
    assert capsys.readouterr().out.startswith("holdout: 4 images (4 reviewed, scored), 2 added now")
    assert main(["holdout", "--project", project, "--grow", "50"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot grow the holdout by 50")


def test_holdout_loads_no_torch(shapes_project_dir: Path, tmp_path: Path) -> None:
    rc, heavy, output = run_main(["holdout", "--project", str(shapes_project_dir)], tmp_path)
    assert rc == 0, output
    assert heavy == [], f"holdout imported {heavy}"


def test_activate_without_a_holdout_says_so_and_activates(shapes_project_dir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from detector_app.detection.presets import build_model
    from detector_app.training.versions import register_version

    with Project.open(shapes_project_dir, create=False) as project:
        torch.manual_seed(0)
        version = register_version(project, build_model("retinanet_light", 4), preset="retinanet_light",
                                   class_names=("circle", "square", "triangle"), parent_id=None, settings={},
                                   metrics={}, name="first")
    assert main(["activate", "--project", str(shapes_project_dir), "--version", str(version.id)]) == 0
    out = capsys.readouterr().out
    assert "no holdout" in out and "first is now the active version" in out
    with Project.open(shapes_project_dir, create=False) as project:
        assert project.repo.active_model_version().id == version.id
    assert main(["activate", "--project", str(shapes_project_dir), "--version", "99"]) == 2
