"""Concurrency: a worker inserts predictions while another thread edits annotations (and a third reads)
for 10 s: no "database is locked", no lost edit."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from detector_app.core.detections import Detections
from detector_app.errors import StorageError
from detector_app.storage import Project
from detector_app.storage.records import AnnotationRecord
from detector_app.storage.repository import Repository

DURATION_S = 10.0
BOXES = 20


def run_for(seconds: float, errors: list[BaseException], body: Callable[[], None]) -> threading.Thread:
    def loop() -> None:
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                body()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
    return threading.Thread(target=loop, daemon=True)


class Predictor:
    """The inference worker: a batch of predictions per frame, one transaction each."""

    def __init__(self, repo: Repository, image_ids: list[int]) -> None:
        self.repo, self.image_ids = repo, image_ids
        self.inserted = 0
        self.recent: list[int] = []  # prediction ids the editor may accept or reject
        self.lock = threading.Lock()
        rng = np.random.default_rng(0)
        xy = rng.uniform(0, 80, (BOXES, 2))
        self.dets = Detections(np.hstack([xy, xy + 10]), rng.uniform(0.3, 1, BOXES),
                               rng.integers(1, 3, BOXES), ("__background__", "cat", "dog"))

    def __call__(self) -> None:
        image_id = self.image_ids[self.inserted // BOXES % len(self.image_ids)]
        records = self.repo.add_predictions(image_id, self.dets)
        self.inserted += len(records)
        with self.lock:
            self.recent = [r.id for r in records]
        # At most 30 frames a second, as from a real detector (1-30 fps): unpaced, this thread re-took the write
        # lock so fast that the editor was starved (20 edits in 10 s in one CI run), which no user meets.
        time.sleep(1 / 30)


class Editor:
    """The person: draws, moves, relabels, accepts, rejects, deletes and undoes, each its own transaction."""

    def __init__(self, repo: Repository, image_ids: list[int], predictor: Predictor) -> None:
        self.repo, self.image_ids, self.predictor = repo, image_ids, predictor
        self.rng = random.Random(1)
        self.expected: dict[int, tuple | None] = {}  # annotation id -> (bbox, category, status) or None
        self.deleted: dict[int, AnnotationRecord] = {}
        self.snapshots: dict[int, AnnotationRecord] = {}
        self.edits = 0

    def __call__(self) -> None:
        r, repo = self.rng, self.repo
        op = r.choice(["draw", "move", "relabel", "judge", "delete", "undo", "judge_prediction"])
        live = [i for i, v in self.expected.items() if v is not None]
        if op == "draw" or not live:
            bbox = (r.uniform(0, 50), r.uniform(0, 50), r.uniform(1, 20), r.uniform(1, 20))
            ann = repo.add_annotation(r.choice(self.image_ids), r.choice(["cat", "dog"]), bbox)
        elif op == "judge_prediction":
            with self.predictor.lock:
                candidates = [i for i in self.predictor.recent if i not in self.deleted]
            if not candidates:
                return
            ann = repo.set_status(r.choice(candidates), r.choice(["accepted", "rejected"]))
        elif op == "delete":
            snapshot = repo.delete_annotation(r.choice(live))
            self.deleted[snapshot.id] = self.snapshots[snapshot.id] = snapshot
            self.expected[snapshot.id] = None
            self.edits += 1
            return
        elif op == "undo" and self.deleted:
            ann = repo.restore_annotation(self.deleted.pop(r.choice(sorted(self.deleted))))
        elif op == "move":
            ann = repo.update_bbox(r.choice(live), (r.uniform(0, 50), r.uniform(0, 50), 5.5, 6.5))
        elif op == "relabel":
            ann = repo.set_category(r.choice(live), r.choice(["cat", "dog", "bird"]))
        else:
            ann = repo.set_status(r.choice(live), r.choice(["accepted", "rejected"]))
        self.expected[ann.id] = (ann.bbox, ann.category_name, ann.status)
        self.edits += 1


def test_predictions_and_edits_at_the_same_time(project_dir: Path, tmp_path: Path) -> None:
    with Project.open(project_dir) as project:
        repo = project.repo
        frame = np.zeros((96, 96, 3), np.uint8)
        predicted_images = [repo.add_frame(frame, "video", "/v.avi", i).id for i in range(20)]
        edited_images = [repo.add_frame(frame, "webcam").id for _ in range(5)]
        predictor = Predictor(repo, predicted_images)
        editor = Editor(repo, edited_images, predictor)
        reads = [0]

        def reader() -> None:
            repo.list_images("unreviewed", limit=50)
            repo.annotations_for_image(random.choice(predicted_images))
            repo.class_counts()
            reads[0] += 1

        errors: list[BaseException] = []
        threads = [run_for(DURATION_S, errors, body) for body in (predictor, editor, reader)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DURATION_S + 60)
        assert not any(t.is_alive() for t in threads), "a thread hung"
        assert errors == [], f"{len(errors)} errors, first: {errors[0]!r}"

        # No lost edit: every annotation is exactly as the editor left it.
        for ann_id, want in editor.expected.items():
            if want is None:
                with pytest.raises(StorageError):
                    repo.get_annotation(ann_id)
            else:
                got = repo.get_annotation(ann_id)
                assert (got.bbox, got.category_name, got.status) == want
        # No lost prediction: every inserted box is stored, unless the editor deleted it.
        stored = sum(1 for img in predicted_images for a in repo.annotations_for_image(img) if a.origin == "model")
        deleted = sum(1 for i, v in editor.expected.items() if v is None and editor.snapshots[i].origin == "model")
        assert stored + deleted == predictor.inserted
        assert predictor.inserted >= 10 * BOXES and editor.edits >= 100 and reads[0] >= 10


_ADD_VERSION = """
import sys
from detector_app.storage import Project
with Project.open(sys.argv[1], create=False) as project:
    project.repo.add_model_version(sys.argv[2], "retinanet_light", ["circle", "triangle", "square"],
                                   metrics={"mAP": 0.5}, settings={"epochs": 1})
"""


def test_a_project_open_twice_in_one_process_sees_versions_another_process_adds(project_dir: Path) -> None:
    """As in the GUI: the main window holds the project while the Train dialog opens it again, and a training
    process adds model versions. Opening it again must not drop the SQLite locks of the first connection
    (which would let the other process delete the -wal/-shm under it and leave it a stale, garbled view)."""
    import subprocess
    import sys

    with Project.open(project_dir) as gui:
        assert gui.repo.model_versions() == []
        for n in (1, 2):
            with Project.open(project_dir, create=False) as again:
                again.repo.model_versions()
            subprocess.run([sys.executable, "-c", _ADD_VERSION, str(project_dir), f"v{n}"], check=True,
                           timeout=120)
            assert [v.name for v in gui.repo.model_versions()] == [f"v{i}" for i in range(1, n + 1)]
            version = gui.repo.get_model_version(n)
            assert version.class_names == ("circle", "triangle", "square") and version.metrics == {"mAP": 0.5}
