"""MOT Challenge gt.txt and COCO with track ids: the codec on its own (hand-written expected lines, read back
by our reader and by motmetrics' own), and exports of a labelled video task checked with pycocotools,
motmetrics and the written frames; ``detector-app export mot`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import motmetrics
import numpy as np
import pytest
from pycocotools.coco import COCO

from detector_app.core.detections import Detections
from detector_app.core.labels import Box, Category, LabelledImage, LabelSet
from detector_app.errors import DetectorAppError, ImportValidationError
from detector_app.formats.mot import MotCodec, read_mot
from detector_app.review.video_edits import VideoTasks
from detector_app.storage import Project
from detector_app.transfer.exporting import export_labels

from .helpers_detection import write_video

VIDEO = Path("/videos/street cam.mp4")


def frame(index: int, *boxes: Box) -> LabelledImage:
    return LabelledImage(f"{index:07d}.png", 640, 480, boxes, None, index + 1, VIDEO, index)


def small_set() -> LabelSet:
    return LabelSet(
        (Category("person", 1), Category("car", 3)),
        (frame(0, Box("person", (10, 20, 30, 40), track_id=7), Box("car", (1.5, 2.25, 3, 4), track_id=2)),
         frame(1, Box("person", (12, 20, 30, 40), track_id=7), Box("car", (5, 5, 5, 5))),
         LabelledImage("photo.jpg", 100, 100, (Box("car", (1, 1, 2, 2)),), None, 99)))


def test_gt_txt_lines_are_mot_challenge_rows(tmp_path: Path) -> None:
    main = MotCodec().write(small_set(), tmp_path, copy_images=False)
    assert main == tmp_path / "street_cam" / "gt" / "gt.txt"
    # 1-based frames and pixels (left and top + 1); the plain box (no track) gets the next id after the largest track id (7); the photo
    # that is not a video frame is left out; class = the category id
    assert main.read_text().splitlines() == [
        "1,7,11,21,30,40,1,1,1", "1,2,2.5,3.25,3,4,1,3,1", "2,7,13,21,30,40,1,1,1", "2,8,6,6,5,5,1,3,1"]
    assert (main.parent / "labels.txt").read_text() == "1 person\n3 car\n"
    assert "seqLength=2\nimWidth=640\nimHeight=480" in (tmp_path / "street_cam" / "seqinfo.ini").read_text()
    assert not (tmp_path / "street_cam" / "img1").exists()  # frames only when asked

    frames = motmetrics.io.loadtxt(str(main), fmt="mot15-2D")  # motmetrics' own reader: 0-based pixels again
    assert sorted(frames.index.tolist()) == [(1, 2), (1, 7), (2, 7), (2, 8)]
    assert frames.loc[(1, 2)][["X", "Y", "Width", "Height"]].tolist() == [1.5, 2.25, 3, 4]

    back = read_mot(main)
    assert [c.name for c in back.categories] == ["car", "person"]
    assert [(i.frame_index, i.file_name, i.width) for i in back.images] == [(0, "000001.jpg", 640),
                                                                            (1, "000002.jpg", 640)]
    assert [(b.category, b.bbox, b.track_id) for b in back.images[0].boxes] == [
        ("person", (10, 20, 30, 40), 7), ("car", (1.5, 2.25, 3, 4), 2)]
    assert back.images_dir == tmp_path / "street_cam" / "img1"


def test_bad_gt_lines_are_refused_in_one_line(tmp_path: Path) -> None:
    MotCodec().write(small_set(), tmp_path, copy_images=False)
    gt = tmp_path / "street_cam" / "gt" / "gt.txt"
    gt.write_text("1,7,10,20,30,40,1,1,1\n0,1,1,1,1,1,1,1,1\n2,1,1,1,-4,1,1,1,1\n3,x\n4,1,1,1,1,1,0,1,1\n")
    with pytest.raises(ImportValidationError, match="line 2:.*line 3:.*line 4:") as caught:
        read_mot(tmp_path / "street_cam")
    assert "\n" not in str(caught.value)
    gt.write_text("1,7,10,20,30,40,1,1,1\n4,1,1,1,1,1,0,1,1\n")  # conf 0: an ignore region, skipped
    assert [len(i.boxes) for i in read_mot(gt).images] == [1]
    with pytest.raises(DetectorAppError, match="video frames"):
        MotCodec().write(LabelSet((), ()), tmp_path / "empty", copy_images=False)


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[Project, VideoTasks, int]:
    """A 30-frame clip with one track: keyframes at 2 and 6, ended at 10, and an unreviewed proposal."""
    video = write_video(tmp_path / "clip.avi", frames=30)
    project = Project.open(tmp_path / "project")
    tasks = VideoTasks(project.repo)
    v = tasks.open_video(video).id
    track = tasks.new_track(v, 2, "car", (10, 10, 20, 20)).tracks_after[0]
    assert track is not None
    tasks.set_box(track.id, 6, (30, 10, 20, 20))
    tasks.end_track(track.id, 10)
    tasks.add_box(v, 20, "sign", (1, 1, 5, 5))
    other = tasks.new_track(v, 25, "car", (0, 0, 4, 4)).tracks_after[0]
    assert other is not None
    tasks.propagate(v, 26, 2, green_square)  # a model track (the square is far from track 2's box)
    return project, tasks, v


def green_square(image: np.ndarray) -> Detections:
    ys, xs = np.nonzero(image[:, :, 1] > 150)
    return Detections(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32), np.array([0.9]),
                      np.array([1]), ("__background__", "square"))


def test_exports_hold_every_frame_with_a_box_and_its_track_id(labelled: tuple[Project, VideoTasks, int],
                                                              tmp_path: Path) -> None:
    project, tasks, v = labelled
    first, second, model = tasks.store.tracks(v)
    assert model.created_by == "model"
    gt = export_labels(project.repo, "mot", tmp_path / "mot")
    rows = motmetrics.io.loadtxt(str(gt), fmt="mot15-2D")
    car = rows.xs(first.id, level="Id")
    # frames 2..9 (1-based 3..10): keyframes, the interpolated frames between and the held ones up to the end
    assert car.index.tolist() == list(range(3, 11))
    assert car.loc[5][["X", "Width"]].tolist() == [20, 20]  # frame 4: halfway between x 10 and 30
    assert rows.xs(second.id, level="Id").index.tolist() == [26, 27, 28, 29, 30]  # held to the end of the clip
    assert len(rows) == 8 + 5 + 1  # + the plain box on frame 20; the model's proposals wait for review

    coco_file = export_labels(project.repo, "coco", tmp_path / "coco")
    coco = COCO(str(coco_file))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 14 and {a["track_id"] for a in anns if "track_id" in a} == {first.id, second.id}
    data = json.loads(coco_file.read_text())
    assert data["videos"] == [{"id": 1, "name": "clip.avi"}]
    assert sorted(i["frame_id"] for i in data["images"]) == [*range(2, 10), 20, *range(25, 30)]
    assert not (tmp_path / "coco" / "images").exists()

    everything = export_labels(project.repo, "mot", tmp_path / "mot-all", scope="all")
    rows_all = motmetrics.io.loadtxt(str(everything), fmt="mot15-2D")
    # the proposal, with scope all (ByteTrack confirms a new object on its second frame: 28, 1-based 29)
    assert rows_all.xs(model.id, level="Id").index.tolist() == [29]
    tasks.close()
    project.close()


def test_frames_are_written_only_when_asked(labelled: tuple[Project, VideoTasks, int], tmp_path: Path) -> None:
    project, tasks, v = labelled
    gt = export_labels(project.repo, "mot", tmp_path / "mot", copy_images=True)
    written = sorted(p.name for p in (gt.parent.parent / "img1").iterdir())
    assert written[:2] == ["000003.jpg", "000004.jpg"] and len(written) == 14
    image = cv2.imread(str(gt.parent.parent / "img1" / "000005.jpg"))
    assert image.shape == (120, 160, 3)
    assert abs(image.astype(int) - tasks.frame(v, 4).astype(int)).mean() < 3  # frame 4, JPEG-close
    coco_file = export_labels(project.repo, "coco", tmp_path / "coco", copy_images=True)
    names = {i["file_name"] for i in json.loads(coco_file.read_text())["images"]}
    assert all((tmp_path / "coco" / "images" / n).is_file() for n in names) and len(names) == 14
    tasks.close()
    project.close()


def test_cli_exports_mot(labelled: tuple[Project, VideoTasks, int], tmp_path: Path) -> None:
    project, tasks, _ = labelled
    folder = project.path
    tasks.close()
    project.close()
    done = subprocess.run([sys.executable, "-m", "detector_app", "export", "mot", str(tmp_path / "cli"),
                           "--project", str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli" / "clip" / "gt" / "gt.txt").read_text().startswith("3,")
