"""``detect FOLDER --ray``: Ray actors store what one process stores; without Ray, one line.

The comparison runs the real command twice over the shared coco-tiny images, into two projects: once on this
machine, once on a local Ray with 2 actors. Same weights (a .pth both load), fp32 (``--no-fast``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.cli.main import main
from detector_app.detection.weights import save_model
from detector_app.storage import Project

from .conftest import SHARED_DATA
from .helpers_detection import spread_model

IMAGES = SHARED_DATA / "coco-tiny" / "images"
TOLERANCE = 1e-4  # boxes (pixels) and scores of the two runs


def _one_image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((48, 64, 3), 127, np.uint8))
    return folder


def test_ray_missing_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as where it is not installed
    folder = _one_image_folder(tmp_path)
    code = main(["detect", str(folder), "--ray", "--model", "retinanet_light", "--weights", "none",
                 "--project", str(tmp_path / "project")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["error: --ray needs Ray, which is not installed: pip install 'detector-app[cluster]'"]
    assert not (tmp_path / "project").exists()  # refused before anything was written


def test_the_detect_command_does_not_import_ray() -> None:
    """Ray takes seconds to import: only a run with --ray loads it (``ray_batch.import_ray``)."""
    code = "import sys, detector_app.cli.detect_run\nprint('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_detect_project_stores_each_image_with_its_predictions_once(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``--project`` (the path --ray shares): predictions to review; a second run leaves labelled images alone."""
    argv = ["detect", str(_one_image_folder(tmp_path)), "--model", "retinanet_light", "--weights", "none",
            "--size", "64", "--threshold", "0", "--max-detections", "5", "--project", str(tmp_path / "p")]
    assert main(argv) == 0
    summary = re.search(r"project: 1 stored with (\d+) boxes to review", capsys.readouterr().out)
    stored = _stored(tmp_path / "p")
    assert summary is not None and list(stored) == ["a.png"]
    assert len(stored["a.png"]) == int(summary[1]) > 0  # the 5 detections less the background class's
    assert main(argv) == 0
    assert "1 already labelled or reviewed, kept as they were" in capsys.readouterr().out
    assert _stored(tmp_path / "p") == stored


def _stored(project_dir: Path) -> dict[str, list[tuple[str, float, tuple[float, ...]]]]:
    """Per image file name: its predictions as (class, score, bbox), in a stable order."""
    with Project.open(project_dir, create=False) as project:
        repo = project.repo
        images = repo.list_images(limit=1000)
        return {Path(img.path).name: sorted((a.category_name, float(a.score), tuple(a.bbox))
                                            for a in repo.annotations_for_image(img.id)) for img in images}


@pytest.mark.slow  # starts a local Ray (about 10 s idle, a minute on a busy 2-core box) and runs 38 images twice
@pytest.mark.skipif(not IMAGES.is_dir(), reason="shared coco-tiny images not present")
def test_two_ray_actors_store_the_same_detections_as_one_process(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    loaded = spread_model("retinanet_light", seed=2)
    weights = save_model(tmp_path / "spread.pth", loaded.model, preset="retinanet_light",
                         class_names=loaded.class_names)
    common = ["detect", str(IMAGES), "--model", str(weights), "--no-fast", "--size", "160", "--threshold", "0.3",
              "--max-detections", "20", "--device", "cpu"]
    assert main([*common, "--project", str(tmp_path / "one")]) == 0
    assert main([*common, "--project", str(tmp_path / "ray"), "--ray", "--actors", "2"]) == 0
    assert not ray.is_initialized()  # the local Ray the command started is shut down

    one, on_ray = _stored(tmp_path / "one"), _stored(tmp_path / "ray")
    assert sorted(one) == sorted(on_ray) and len(one) == len(list(IMAGES.glob("*.jpg")))
    assert sum(len(v) for v in one.values()) > 20  # enough boxes for the comparison to mean something
    worst = 0.0
    for name, boxes in one.items():
        other = on_ray[name]
        assert [b[0] for b in boxes] == [b[0] for b in other], name
        for (_, score, bbox), (_, score2, bbox2) in zip(boxes, other, strict=True):
            worst = max(worst, abs(score - score2), float(np.abs(np.subtract(bbox, bbox2)).max()))
    assert worst <= TOLERANCE, f"max difference {worst:.3g}"
    print(f"max box/score difference, 2 Ray actors vs one process: {worst:.3g}")
