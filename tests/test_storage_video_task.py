"""A video as a labelling task, through the API a window drives (review.video_edits.VideoTasks), checked
against the database: one row per video, frame rows only for labelled frames, keyframes and interpolation,
ending a track without losing its past, copy from the previous frame, propagate, and undo/redo of each."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from detector_app.core.detections import Detections
from detector_app.core.tracks import BoxKind
from detector_app.errors import SourceError, StorageError
from detector_app.review.video_edits import MODEL_TRACK, VideoTasks
from detector_app.storage import Project

from .backends import ProjectSource
from .helpers_detection import write_video

FRAMES = 40


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi", frames=FRAMES)  # a green square moving 3 px a frame


@pytest.fixture
def tasks(project_dir: Path) -> Iterator[VideoTasks]:
    with Project.open(project_dir) as project:
        tasks = VideoTasks(project.repo, user="ann")
        yield tasks
        tasks.close()


def frame_rows(tasks: VideoTasks) -> list[tuple[int, str, int]]:
    return [(i.id, i.stored_path, i.frame_index) for i in tasks.repo.list_images(limit=1000)]


def shown(tasks: VideoTasks, video_id: int, frames: range) -> dict[int, list[tuple]]:
    """What each frame shows, as plain tuples (kind, track, box, status)."""
    return {f: [(b.kind, b.track_id, b.bbox, b.status) for b in tasks.boxes_at(video_id, f)] for f in frames}


def green_square(image: np.ndarray) -> Detections:
    """A detector on pixels: the bounding box of the green square (the clip's only object)."""
    ys, xs = np.nonzero(image[:, :, 1] > 150)
    if not len(xs):
        return Detections.empty(("__background__", "square"))
    box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    return Detections(box, np.array([0.9]), np.array([1]), ("__background__", "square"))


def test_opening_a_video_adds_one_row_and_no_frames(tasks: VideoTasks, video: Path, tmp_path: Path) -> None:
    first = tasks.open_video(video)
    again = tasks.open_video(video)
    assert first == again and (first.frame_count, first.width, first.height, first.fps) == (FRAMES, 160, 120, 10.0)
    assert tasks.repo.count_images() == 0 and tasks.store.videos() == [first]
    assert tasks.frame(first.id, 7).shape == (120, 160, 3)
    write_video(video, frames=FRAMES + 1)  # the same path now holds another video
    with pytest.raises(StorageError, match="content changed"):
        tasks.open_video(video)
    (tmp_path / "notes.avi").write_text("not a video")
    with pytest.raises(SourceError):
        tasks.open_video(tmp_path / "notes.avi")
    assert tasks.store.videos() == [first]


def test_keyframes_interpolate_and_undo_redo_restores_rows(tasks: VideoTasks, video: Path) -> None:
    v = tasks.open_video(video).id
    made = tasks.new_track(v, 10, "car", (10, 20, 30, 40))
    track = made.tracks_after[0]
    assert track is not None and track.category_name == "car" and track.created_by == "ann"
    assert frame_rows(tasks) == [(made.boxes_after[0].image_id, f"{video.resolve()}.frames/0000010.png", 10)]
    moved = tasks.set_box(track.id, 20, (30, 40, 30, 20))
    assert [b.kind for b in tasks.boxes_at(v, 10)] == [BoxKind.KEYFRAME]
    at15 = tasks.boxes_at(v, 15)[0]  # halfway: (20, 30, 30, 30)
    assert (at15.kind, at15.bbox, at15.annotation_id, at15.is_label) == (BoxKind.INTERPOLATED, (20, 30, 30, 30),
                                                                         None, True)
    assert tasks.boxes_at(v, 9) == [] and tasks.boxes_at(v, 39)[0].bbox == (30, 40, 30, 20)  # held to the end
    line = tasks.timeline(v)[0]
    assert (line.span, line.keyframes, line.proposals) == ((10, FRAMES), (10, 20), ())
    assert tasks.repo.count_images() == 2  # two labelled frames, two rows

    before = shown(tasks, v, range(FRAMES))
    tasks.undo(moved)
    assert tasks.repo.count_images() == 1 and tasks.boxes_at(v, 15)[0].bbox == (10, 20, 30, 40)
    tasks.redo(moved)
    assert shown(tasks, v, range(FRAMES)) == before
    assert tasks.boxes_at(v, 20)[0].annotation_id == moved.boxes_after[0].id  # the same row id came back
    tasks.undo(moved)
    tasks.undo(made)
    assert tasks.repo.count_images() == 0 and tasks.store.tracks(v) == [] and tasks.repo.count_annotations() == 0
    tasks.redo(made)
    assert tasks.store.tracks(v) == [track]


def test_changing_a_tracks_class_relabels_every_frame_and_undoes(tasks: VideoTasks, video: Path) -> None:
    v = tasks.open_video(video).id
    track = tasks.new_track(v, 10, "car", (10, 20, 30, 40)).tracks_after[0]
    tasks.set_box(track.id, 20, (30, 40, 30, 20))
    rows_before = {i.id: [(a.id, a.category_name, a.revision) for a in tasks.repo.annotations_for_image(i.id)]
                   for i in tasks.repo.list_images(limit=10)}
    before = shown(tasks, v, range(FRAMES))
    edit = tasks.relabel_track(track.id, "truck", 15)
    names = {f: [b.category_name for b in tasks.boxes_at(v, f)] for f in range(FRAMES)}
    assert all(n == ["truck"] for f, n in names.items() if f >= 10) and names[9] == []
    assert tasks.store.tracks(v)[0].category_name == "truck" and shown(tasks, v, range(FRAMES)) == before
    for image_id, rows in rows_before.items():  # each stored box: the new class, one revision more, who did it
        after = [(a.id, a.category_name, a.revision, a.updated_by) for a in tasks.repo.annotations_for_image(image_id)]
        assert after == [(i, "truck", r + 1, tasks.repo.annotator) for i, _name, r in rows]
    tasks.undo(edit)
    assert tasks.store.tracks(v)[0].category_name == "car"
    assert all(b.category_name == "car" for f in range(10, FRAMES) for b in tasks.boxes_at(v, f))
    tasks.redo(edit)
    assert {b.category_name for f in range(10, FRAMES) for b in tasks.boxes_at(v, f)} == {"truck"}


def test_ending_a_track_keeps_every_earlier_frame(tasks: VideoTasks, video: Path) -> None:
    """CVAT #1252 lost whole tracks on "end track": here frames before X show exactly what they showed."""
    v = tasks.open_video(video).id
    track = tasks.new_track(v, 5, "person", (0, 0, 10, 10)).tracks_after[0]
    assert track is not None
    tasks.set_box(track.id, 15, (20, 10, 10, 30))
    tasks.set_box(track.id, 25, (40, 10, 10, 30))
    before = shown(tasks, v, range(FRAMES))
    ended = tasks.end_track(track.id, 12)
    after = shown(tasks, v, range(FRAMES))
    for f in range(12):
        if f != 11:
            assert after[f] == before[f], f
    # frame 11 keeps its box (6/10 of the way from frame 5 to 15: x 12, y 6, h 22), now stored as a keyframe
    assert after[11][0][2] == pytest.approx((12.0, 6.0, 10.0, 22.0)) and after[11][0][0] == BoxKind.KEYFRAME
    assert after[11][0][2] == before[11][0][2]
    assert all(after[f] == [] for f in range(12, FRAMES))
    assert tasks.store.get_track(track.id).ended_at_frame == 12
    assert sorted(b.frame for b in tasks.store.stored_boxes(v)) == [5, 11]
    assert sorted(i.frame_index for i in tasks.repo.list_images(limit=100)) == [5, 11]  # 15 and 25 rows gone
    tasks.undo(ended)
    assert shown(tasks, v, range(FRAMES)) == before and tasks.store.get_track(track.id).ended_at_frame is None
    tasks.redo(ended)
    assert shown(tasks, v, range(FRAMES)) == after
    with pytest.raises(StorageError, match="ends at a frame from 0 to 40"):
        tasks.end_track(track.id, 41)


def test_copy_boxes_from_the_previous_frame(tasks: VideoTasks, video: Path) -> None:
    v = tasks.open_video(video).id
    track = tasks.new_track(v, 2, "car", (0, 0, 10, 10)).tracks_after[0]
    assert track is not None
    tasks.set_box(track.id, 12, (100, 0, 10, 10))
    tasks.add_box(v, 6, "sign", (50, 50, 5, 5))
    copy = tasks.copy_previous(v, 7)
    at7 = {(b.kind, b.category_name, b.bbox) for b in tasks.boxes_at(v, 7)}
    # the track was interpolated at frame 6 (x 40): now a keyframe there at 7; the plain box is copied
    assert at7 == {(BoxKind.KEYFRAME, "car", (40.0, 0.0, 10.0, 10.0)), (BoxKind.PLAIN, "sign", (50.0, 50.0, 5.0, 5.0))}
    assert tasks.timeline(v)[0].keyframes == (2, 7, 12)
    assert tasks.copy_previous(v, 7).changed is False  # nothing left to copy
    tasks.undo(copy)
    assert {b.kind for b in tasks.boxes_at(v, 7)} == {BoxKind.INTERPOLATED}
    with pytest.raises(StorageError, match="first frame"):
        tasks.copy_previous(v, 0)


def test_propagate_proposes_boxes_on_the_track_for_review(tasks: VideoTasks, video: Path) -> None:
    v = tasks.open_video(video).id
    start = green_square(tasks.frame(v, 0)).xywh[0].tolist()
    track = tasks.new_track(v, 0, "square", start).tracks_after[0]
    assert track is not None
    edit = tasks.propagate(v, 0, 10, green_square)
    assert edit.text == "Propagate 10 frames" and tasks.store.tracks(v) == [track]  # no new track: seeded
    line = tasks.timeline(v)[0]
    assert line.keyframes == (0,) and line.proposals == tuple(range(1, 11))
    for f in (3, 10):
        box = tasks.boxes_at(v, f)[0]
        truth = green_square(tasks.frame(v, f)).xywh[0].tolist()
        assert box.kind == BoxKind.PROPOSAL and box.status == "predicted" and not box.is_label
        assert box.bbox == pytest.approx(truth)
    assert tasks.repo.count_images("unreviewed") == 10  # each proposed frame waits for review
    accepted = tasks.accept(tasks.boxes_at(v, 10)[0].annotation_id)
    assert tasks.boxes_at(v, 10)[0].is_label and tasks.repo.count_images("unreviewed") == 9
    keyframe = tasks.set_box(track.id, 5, (1, 1, 20, 20))  # a person's keyframe is never overwritten
    tasks.propagate(v, 0, 10, green_square)
    assert tasks.boxes_at(v, 5)[0].bbox == (1, 1, 20, 20) and tasks.boxes_at(v, 5)[0].kind == BoxKind.KEYFRAME
    tasks.undo(keyframe)
    tasks.undo(accepted)
    tasks.undo(edit)
    assert tasks.timeline(v)[0].proposals == () and tasks.repo.count_images() == 1


def test_propagate_starts_model_tracks_that_end_after_their_last_proposal(tasks: VideoTasks, video: Path) -> None:
    v = tasks.open_video(video).id
    edit = tasks.propagate(v, 4, 6, green_square)
    (track,) = tasks.store.tracks(v)
    assert track.created_by == MODEL_TRACK and track.category_name == "square" and track.ended_at_frame == 11
    assert tasks.timeline(v)[0].span == (5, 11)
    tasks.undo(edit)
    assert tasks.store.tracks(v) == [] and tasks.repo.count_images() == 0


@pytest.mark.slow
def test_propagate_runs_a_real_detector(tasks: VideoTasks, video: Path) -> None:
    """The project's Detector (random weights with spread scores) is a detector callable as it is."""
    from detector_app.detection.config import DetectorConfig
    from detector_app.detection.detector import Detector

    from .helpers_detection import spread_model

    detector = Detector(spread_model("retinanet_light", seed=2), DetectorConfig(size=160, score_threshold=0.3))
    v = tasks.open_video(video).id
    edit = tasks.propagate(v, 0, 3, detector.predict, min_score=0.3)
    stored = tasks.store.stored_boxes(v)
    assert {b.frame for b in stored} == {1, 2, 3}  # random spread weights score many boxes above 0.3
    assert all(b.status == "predicted" and not b.keyframe and b.track_id is not None for b in stored)
    tasks.undo(edit)
    assert tasks.store.stored_boxes(v) == []


def test_video_tasks_on_either_backend(project_source: ProjectSource, video: Path) -> None:
    with project_source.open() as project:
        tasks = VideoTasks(project.repo)
        v = tasks.open_video(video).id
        track = tasks.new_track(v, 1, "car", (0, 0, 10, 10)).tracks_after[0]
        assert track is not None
        tasks.set_box(track.id, 9, (8, 0, 10, 10))
        end = tasks.end_track(track.id, 6)
        assert [b.bbox for b in tasks.boxes_at(v, 5)] == [(4.0, 0.0, 10.0, 10.0)]
        tasks.undo(end)
        assert [b.bbox for b in tasks.boxes_at(v, 6)] == [(5.0, 0.0, 10.0, 10.0)]
        tasks.close()


def test_bad_input_leaves_the_database_unchanged(tasks: VideoTasks, video: Path, project_dir: Path) -> None:
    v = tasks.open_video(video).id
    tasks.new_track(v, 0, "car", (0, 0, 10, 10))
    db = project_dir / "project.db"
    before = sqlite3.connect(db).execute("SELECT count(*) FROM annotations").fetchone()
    for call in (lambda: tasks.new_track(v, FRAMES, "car", (0, 0, 5, 5)),
                 lambda: tasks.new_track(v, 3, "car", (0, 0, -5, 5)),
                 lambda: tasks.set_box(999, 3, (0, 0, 5, 5)),
                 lambda: tasks.boxes_at(v, -1),
                 lambda: tasks.propagate(v, FRAMES - 1, 5, green_square)):
        with pytest.raises(StorageError):
            call()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM annotations").fetchone() == before
    assert len(tasks.store.tracks(v)) == 1


def test_boxes_at_reads_only_nearby_anchors_and_agrees_with_the_whole_track(tasks: VideoTasks, video: Path) -> None:
    """boxes_at fetches each track's nearest anchors around the frame; the export computes every frame from all
    anchors at once: both must show the same boxes on every frame (ends, rejected proposals and plain boxes too)."""
    v = tasks.open_video(video).id
    a = tasks.new_track(v, 3, "car", (0, 0, 10, 10)).tracks_after[0]
    b = tasks.new_track(v, 8, "person", (50, 50, 8, 20)).tracks_after[0]
    assert a is not None and b is not None
    for f, x in ((9, 20), (17, 5), (30, 60)):
        tasks.set_box(a.id, f, (x, 10, 12, 12))
    tasks.set_box(b.id, 14, (60, 40, 8, 20))
    tasks.end_track(b.id, 22)
    tasks.propagate(v, 30, 4, green_square)
    rejected = tasks.boxes_at(v, 33)
    tasks.reject(next(x.annotation_id for x in rejected if x.kind == BoxKind.PROPOSAL))
    tasks.add_box(v, 12, "sign", (1, 1, 3, 3))
    every = tasks.store.track_boxes(v)
    for f in range(FRAMES):
        assert tasks.boxes_at(v, f) == every.get(f, []), f
    assert any(x.kind == BoxKind.INTERPOLATED for x in every[12])
