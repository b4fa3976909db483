"""``detector-app detect VIDEO --track``: a track_id on every detection, steady while its object moves.

The detector is a real plugin (found, probed and loaded the way users' plugins are) that finds the
generated shapes by their saturated colour on a grey background, so the boxes are real detections of
the moving objects and the test checks what --track adds: ids that follow each object.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.cli.main import main
from detector_app.paths import app_paths
from detector_app.tracking.geometry import iou_matrix

from .synthetic_tracks import make_track_sequence

pytestmark = pytest.mark.usefixtures("fresh_plugins")

COLOUR_DETECTOR = """
import cv2
import numpy as np
from detector_app.core.detections import Detections
from detector_app.plugins_api import API_VERSION, DetectionModel, DetectorPlugin


class ColourModel(DetectionModel):
    class_names = ("__background__", "blob")

    def predict(self, image_bgr):
        saturation = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2HSV)[..., 1]
        mask = cv2.morphologyEx((saturation > 90).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:count] if area >= 80]
        n = len(boxes)
        return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(n, 0.9), np.ones(n), self.class_names)


class Colour(DetectorPlugin):
    name = "colour"
    version = "1.0"
    api_version = API_VERSION

    def load(self, options=""):
        return ColourModel()


PLUGINS = [Colour]
"""


@pytest.fixture
def colour_plugin() -> None:
    app_paths().user_plugins.mkdir(parents=True, exist_ok=True)
    (app_paths().user_plugins / "colour.py").write_text(COLOUR_DETECTOR)


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_track_ids_follow_each_moving_object(colour_plugin: None, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    grey = [np.full((240, 320, 3), 120, np.uint8)] * 40
    seq = make_track_sequence(grey, objects=3, seed=3, post=False)  # objects 1 and 2 cross head on
    video, out = tmp_path / "shapes.avi", tmp_path / "r.json"
    _write_video(video, seq.frames, seq.fps)

    assert main(["detect", str(video), "--model", "plugin:colour", "--track", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    images = {im["id"]: im["frame_index"] for im in json.loads(out.with_name("r.images.json").read_text())["images"]}
    assert len(images) == 40 and all("track_id" in r for r in results)

    ids_of: dict[int, list[int | None]] = {}  # true object -> track id given on each frame it was found
    for r in results:
        frame = images[r["image_id"]]
        x, y, w, h = r["bbox"]
        iou = iou_matrix(np.array([[x, y, x + w, y + h]]), seq.boxes[frame])[0]
        if iou.size and iou.max() >= 0.5:
            ids_of.setdefault(int(seq.ids[frame][iou.argmax()]), []).append(r["track_id"])
    # Where objects overlap their blobs merge, so each is found on only part of the frames.
    assert len(ids_of) == 3 and all(len(v) >= 20 for v in ids_of.values()), {k: len(v) for k, v in ids_of.items()}
    for obj, ids in ids_of.items():
        assert len(set(ids)) == 1 and ids[0] is not None, (obj, ids)  # one id per object, all frames
    assert len({ids[0] for ids in ids_of.values()}) == 3


def test_track_needs_a_sequence(colour_plugin: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((64, 64, 3), 120, np.uint8))
    assert main(["detect", str(folder), "--model", "plugin:colour", "--track", "--out", str(tmp_path / "r.json")]) == 2
    assert "error: --track needs a video or a webcam" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_without_track_the_results_have_no_track_id(colour_plugin: None, tmp_path: Path) -> None:
    seq = make_track_sequence([np.full((240, 320, 3), 120, np.uint8)] * 5, objects=2, seed=3, post=False)
    video, out = tmp_path / "shapes.avi", tmp_path / "r.json"
    _write_video(video, seq.frames, seq.fps)
    assert main(["detect", str(video), "--model", "plugin:colour", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results and not any("track_id" in r for r in results)
