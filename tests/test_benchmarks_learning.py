"""bench_learning.py's sets (real photo and video backgrounds from ../shared/data, objects of 24-90 px with exact
boxes) and, in the slow run, a smoke run of the benchmark itself."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import bench_learning
from benchmarks.learning_sets import DATA, KINDS, make_set

pytestmark = pytest.mark.skipif(not (DATA / "coco-tiny").is_dir(), reason=f"shared data not found at {DATA}")


# video-marks seeks 72 frames in three videos: 20-45 s on the shared 2-core machine, so it runs with -m slow.
@pytest.mark.parametrize("kind", [k if k != "video-marks" else pytest.param(k, marks=pytest.mark.slow) for k in KINDS])
def test_each_set_has_its_classes_with_exact_boxes_of_24_to_90_px(kind: str, tmp_path: Path) -> None:
    data = make_set(kind, 12, seed=5, out_dir=tmp_path)
    again = make_set(kind, 12, seed=5, out_dir=tmp_path / "again")
    assert data.class_names == KINDS[kind][2]
    labels = {name for item in data.images for name in item.labels}
    assert labels == set(data.class_names)
    for item, same in zip(data.images, again.images, strict=True):
        assert np.array_equal(item.image, same.image) and np.array_equal(item.boxes, same.boxes)  # reproducible
        assert item.image.shape == (240, 320, 3) and cv2.imread(str(item.path)).shape == (240, 320, 3)
        sides = np.sqrt((item.boxes[:, 2] - item.boxes[:, 0]) * (item.boxes[:, 3] - item.boxes[:, 1]))
        assert len(item.boxes) >= 1 and (sides >= 15).all() and (sides <= 95).all()
        assert (item.boxes[:, :2] >= 0).all() and (item.boxes[:, 2] <= 320).all() and (item.boxes[:, 3] <= 240).all()
        for x1, y1, x2, y2 in item.boxes.astype(int):  # every object reaches its box's edges: boxes are exact
            inside = item.image[y1:y2, x1:x2].astype(int)
            assert inside.std() > 0


@pytest.mark.slow
def test_a_quick_run_prints_a_curve_per_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_learning.main(["--quick", "--set", "video-marks", "--minutes", "3"]) == 0
    out = capsys.readouterr().out
    assert "video-marks   previous" in out and "video-marks   default" in out
    assert out.count("AP50/mAP by epoch: ") == 2
