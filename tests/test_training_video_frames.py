"""Training on a labelled video: its frames have no file (a video task's frame is never written), so training
and evaluation decode them from the video, by the rule of sources/video_frames.py."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from detector_app.errors import SourceError, TrainingError
from detector_app.review.video_edits import VideoTasks
from detector_app.sources.video_frames import VideoFrames
from detector_app.storage import Project
from detector_app.training import TrainSettings, train
from detector_app.training.data import DetectionDataset, check_files, make_transform
from detector_app.training.plan import reviewed_samples

from .helpers_detection import write_video

KEYFRAMES = (0, 6, 13, 19)


def decoded(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` decoded from the start (the reference a seek is checked against)."""
    capture = cv2.VideoCapture(str(video))
    for _ in range(index + 1):
        ok, image = capture.read()
        assert ok
    capture.release()
    return image


@pytest.fixture
def labelled_video(project_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    video = write_video(tmp_path / "clip.avi", frames=20)  # a square moving 3 px a frame
    with Project.open(project_dir) as project:
        tasks = VideoTasks(project.repo, user="ann")
        record = tasks.open_video(video)
        track = tasks.new_track(record.id, KEYFRAMES[0], "square", (5, 30, 40, 50)).tracks_after[0]
        for frame in KEYFRAMES[1:]:
            tasks.set_box(track.id, frame, (5 + 3 * frame, 30, 40, 50))
        tasks.close()
    return project_dir, video


def test_frames_of_a_video_task_are_samples_read_from_the_video(labelled_video: tuple[Path, Path]) -> None:
    project_dir, video = labelled_video
    with Project.open(project_dir, create=False) as project:
        samples = reviewed_samples(project)
    assert sorted(s.frame[1] for s in samples if s.frame) == list(KEYFRAMES)
    assert all(not s.path.exists() and s.frame[0] == video for s in samples)
    check_files(samples)  # no file, but the video is there: accepted
    dataset = DetectionDataset(samples, ["square"], make_transform(160))  # the long side: no resize
    for i, sample in enumerate(samples):
        image, target = dataset[i]
        expected = cv2.cvtColor(decoded(video, sample.frame[1]), cv2.COLOR_BGR2RGB)
        assert torch.equal((image * 255).round().to(torch.uint8).permute(1, 2, 0), torch.from_numpy(expected))
        x = 5 + 3 * sample.frame[1]
        assert target["boxes"].tolist() == [[x, 30, x + 40, 80]]
    dataset.frames.close()


def test_a_version_trains_on_a_labelled_video(labelled_video: tuple[Path, Path]) -> None:
    project_dir, _video = labelled_video
    with Project.open(project_dir, create=False) as project:
        result = train(project, TrainSettings(size=64, batch_size=2, parent="scratch", freeze="all", threads=1,
                                              val_share=0.25, epochs=1))
        assert result.version_id is not None and result.after is not None  # trained, then scored on a frame
        assert project.repo.get_model_version(result.version_id).id == result.version_id


def test_a_missing_video_is_one_line_before_training(labelled_video: tuple[Path, Path]) -> None:
    project_dir, video = labelled_video
    with Project.open(project_dir, create=False) as project:
        samples = reviewed_samples(project)
        video.rename(video.with_suffix(".moved"))
        with pytest.raises(TrainingError, match=r"4 image file\(s\) of the training set are missing.*its video"):
            check_files(samples)


def test_a_fifo_or_a_missing_video_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "clip.avi"
    os.mkfifo(fifo)  # a decoder opening it would block forever
    with VideoFrames() as frames:
        with pytest.raises(SourceError, match="not a regular file"):
            frames.frame(fifo, 0)
        with pytest.raises(SourceError, match="is missing"):
            frames.frame(tmp_path / "gone.avi", 0)


def test_few_videos_stay_open(tmp_path: Path) -> None:
    videos = [write_video(tmp_path / f"v{i}.avi", frames=3) for i in range(3)]
    with VideoFrames(open_videos=2) as frames:
        for video in videos:
            assert np.array_equal(frames.frame(video, 2), decoded(video, 2))
        assert list(frames._caches) == videos[1:]
