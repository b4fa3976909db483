"""Error analysis (training/error_analysis.py) on a 3-image case counted by hand, and ``detector-app errors``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector_app.training.data import Sample
from detector_app.training.error_analysis import analyse, confusion, format_report


def _sample(image_id: int, boxes: list[tuple[float, float, float, float]], labels: list[str]) -> Sample:
    return Sample(image_id, Path(f"{image_id}.png"), 100, 100, np.asarray(boxes, np.float32).reshape(-1, 4),
                  tuple(labels))


def _pred(boxes: list[tuple[float, float, float, float]], scores: list[float], names: list[str]) -> tuple:
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32), names


SAMPLES = [_sample(1, [(0, 0, 10, 10), (20, 20, 30, 30)], ["cat", "dog"]),
           _sample(2, [(0, 0, 20, 20)], ["cat"]),
           _sample(3, [(0, 0, 30, 30)], ["dog"])]
PREDICTIONS = [_pred([(0, 0, 10, 10), (20, 20, 30, 30)], [0.9, 0.8], ["cat", "cat"]),  # TP cat; a dog called cat
               _pred([(50, 50, 60, 60)], [0.7], ["dog"]),  # a dog where nothing is; the cat is missed
               _pred([(0, 0, 30, 30), (40, 40, 45, 45)], [0.6, 0.3], ["dog", "cat"])]  # TP dog; 0.3 under 0.5


def test_confusion_matrix_counted_by_hand() -> None:
    matrix, errors = confusion(SAMPLES, PREDICTIONS, ["cat", "dog"])
    #              pred cat  dog  background
    assert matrix == [[1, 0, 1],  # true cat: 1 right, 1 missed (image 2)
                      [1, 1, 0],  # true dog: 1 called cat (image 1), 1 right (image 3)
                      [0, 1, 0]]  # background: 1 dog predicted where nothing is (image 2)
    # Biggest first: the missed 20x20 cat, then two 10x10 boxes by score (wrong class 0.8, false positive 0.7).
    assert [(e.kind, e.image_id, e.category, e.area) for e in errors] == [
        ("miss", 2, "cat", 400.0), ("wrong class", 1, "cat", 100.0), ("false positive", 2, "dog", 100.0)]
    assert errors[1].true_category == "dog" and errors[1].score == pytest.approx(0.8) and errors[0].score is None
    lowered, _ = confusion(SAMPLES, PREDICTIONS, ["cat", "dog"], threshold=0.2)
    assert lowered[2] == [1, 1, 0]  # the 0.3 cat on empty ground now counts as a false positive


def test_curves_and_ap_by_size_from_pycocotools() -> None:
    report = analyse(SAMPLES, PREDICTIONS, ["cat", "dog"])
    assert report.labels == ("cat", "dog", "background")
    # Every box is under 32x32 px: only the small size has ground truth.
    assert report.ap_by_size["medium"] is None and report.ap_by_size["large"] is None
    assert report.ap_by_size["small"] is not None and 0 < report.ap_by_size["small"] < 1
    # cat at IoU 0.5: detections by score 0.9 (TP), 0.8 (FP: a dog), 0.3 (FP): recall reaches 1/2 at precision 1.
    cat = dict(report.pr_curves["cat"])
    assert cat[0.0] == pytest.approx(1.0) and cat[0.5] == pytest.approx(1.0) and cat[0.51] == 0.0
    dog = dict(report.pr_curves["dog"])  # 0.7 FP first, then the 0.6 TP: precision 1/2 up to recall 1/2
    assert dog[0.5] == pytest.approx(0.5) and dog[0.51] == 0.0
    text = format_report(report)
    assert "confusion (rows: ground truth" in text and "miss" in text and "errors: 3" in text
    assert json.loads(json.dumps(report.to_dict()))["confusion"] == [[1, 0, 1], [1, 1, 0], [0, 1, 0]]


def test_errors_command_on_the_holdout(shapes_project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real (untrained, every logit high so it predicts boxes) version run on the holdout by the command."""
    import torch

    from detector_app.cli.main import main
    from detector_app.detection.presets import build_model
    from detector_app.storage import Project
    from detector_app.training.versions import register_version

    project_arg = ["--project", str(shapes_project_dir)]
    assert main(["errors", *project_arg]) == 2  # no version yet
    with Project.open(shapes_project_dir, create=False) as project:
        torch.manual_seed(0)
        model = build_model("retinanet_light", 4)
        with torch.no_grad():
            model.head.classification_head.cls_logits.bias.fill_(4.0)
        register_version(project, model, preset="retinanet_light", class_names=("circle", "square", "triangle"),
                         parent_id=None, settings={"size": 64}, metrics={}, activate=True)
    assert main(["errors", *project_arg]) == 2
    assert "no holdout" in capsys.readouterr().err
    assert main(["holdout", *project_arg]) == 0
    assert main(["errors", *project_arg, "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["images"] == 2 and out["labels"] == ["circle", "square", "triangle", "background"]
    truth = sum(sum(row) for row in out["confusion"][:3])  # every ground-truth box is matched or missed once
    assert truth == sum(1 for e in out["errors"] if e["kind"] == "miss") + sum(
        out["confusion"][i][j] for i in range(3) for j in range(3))
    assert [e["area"] for e in out["errors"]] == sorted((e["area"] for e in out["errors"]), reverse=True)
