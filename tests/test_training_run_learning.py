"""Learning, proved on generated data stored in a project (slow: run with ``-m slow``).

1. The light preset trained from scratch for 10 epochs reaches validation mAP@0.5 >= 0.7 (its time is printed,
   not asserted: speed is measured by benchmarks/bench_training.py, and this machine's speed varies).
2. A two-class model fine-tuned with corrected labels that add a third class detects the new class
   (AP50 >= 0.5) and keeps at least 80% of its AP50 on the old classes.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.storage import Project
from detector_app.training import TrainSettings, load_version, train
from detector_app.training.events import EpochDone

from .synthetic_shapes import make_shapes_dataset, store_in_project

# A run took 8-9 minutes on an idle AVX-512 machine and about 25 on an AVX2 one; the timeout leaves room for both.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

# Small images with big shapes keep a from-scratch run within minutes on two CPU cores. One thread:
# on an idle machine two are 1.7x faster, but 4x slower while another process holds a core (measured
# on this 2-core machine, which other test runs share); one thread keeps the run time steady either way.
SIZE = 96
THREADS = 1
FROM_SCRATCH = dict(parent="scratch", preset="retinanet_light", freeze="all", size=SIZE, batch_size=4,
                    optimizer="adamw", val_share=0.15, threads=THREADS)
# Two to five shapes per image: more boxes per step shortened the from-scratch plateau by a third.
SHAPE_SET = dict(size=SIZE, object_size=(0.25, 0.45), objects=(2, 5))


def _log_epochs(event: object) -> None:
    if isinstance(event, EpochDone):
        print(f"epoch {event.epoch + 1}: loss {event.loss:.3f}, val mAP {event.val_map:.3f}, AP50 {event.val_ap50:.3f}",
              flush=True)


def test_light_preset_learns_shapes_from_scratch(project_dir: Path) -> None:
    started = time.monotonic()
    with Project.open(project_dir) as project:
        data = make_shapes_dataset(420, seed=1, out_dir=project.path / "images", **SHAPE_SET)
        store_in_project(project.repo, data)
        # Epochs, measured on the 2-core machine (one thread): 12 reach AP50 0.976 in 523 s, 10 reach 0.800
        # in 453 s, 9 only 0.723 in 409 s (a shorter cosine schedule leaves less time at a high rate).
        result = train(project, TrainSettings(**FROM_SCRATCH, epochs=10), progress=_log_epochs)
    elapsed = time.monotonic() - started
    print(f"from scratch: val AP50 {result.after.ap50:.3f}, mAP {result.after.map:.3f}, {elapsed:.0f} s")
    assert result.status == "finished"
    assert result.after is not None and result.after.images == 63
    assert result.after.ap50 >= 0.7, result.after


def _correct_like_a_person(project: Project, version_id: int, truth: dict[int, tuple[np.ndarray, tuple[str, ...]]],
                           new_class: str) -> None:
    """Detect with the version as the app does, then review its boxes the way a person would: accept a
    right box, relabel one of the wrong class, reject a box on nothing, draw the boxes it missed."""
    detector = Detector(load_version(project, version_id), DetectorConfig(size=SIZE, score_threshold=0.3))
    repo = project.repo
    for image_id, (boxes, labels) in truth.items():
        dets = detector.predict(cv2.imread(str(repo.get_image(image_id).path)))
        matched: set[int] = set()
        for ann in repo.add_predictions(image_id, dets, model_version_id=version_id):
            x, y, w, h = ann.bbox
            ious = _iou(np.array([x, y, x + w, y + h]), boxes)
            best = int(np.argmax(ious)) if len(ious) else -1
            if best < 0 or ious[best] < 0.5 or best in matched:
                repo.set_status(ann.id, "rejected")
                continue
            matched.add(best)
            if labels[best] != ann.category_name:
                repo.set_category(ann.id, labels[best])  # becomes "corrected"
            else:
                repo.set_status(ann.id, "accepted")
        for i, (box, label) in enumerate(zip(boxes, labels, strict=True)):
            if i not in matched:
                repo.add_annotation(image_id, label, (box[0], box[1], box[2] - box[0], box[3] - box[1]))
        repo.mark_reviewed(image_id)
    counts = repo.class_counts()
    print({name: c for name, c in counts.items()})
    assert counts[new_class]["corrected"] + counts[new_class]["accepted"] > 0  # relabelled or drawn
    assert sum(c["rejected"] + c["corrected"] for c in counts.values()) > 0  # the review changed things


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if len(boxes) == 0:
        return np.zeros(0)
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


def test_fine_tuning_with_corrections_adds_a_class_and_keeps_the_old_ones(project_dir: Path) -> None:
    started = time.monotonic()
    with Project.open(project_dir) as project:
        old = make_shapes_dataset(340, seed=2, out_dir=project.path / "two", shapes=("circle", "square"), **SHAPE_SET)
        store_in_project(project.repo, old)
        base = train(project, TrainSettings(**FROM_SCRATCH, epochs=10, name="two classes"), progress=_log_epochs)
        assert base.after is not None
        print(f"two-class model: AP50 {base.after.per_class_ap50}, {time.monotonic() - started:.0f} s")

        new = make_shapes_dataset(160, seed=3, out_dir=project.path / "three", **SHAPE_SET)
        ids = [project.repo.add_image(item.path).id for item in new.images]
        _correct_like_a_person(project, base.version_id, {i: (item.boxes, item.labels)
                                                          for i, item in zip(ids, new.images, strict=True)},
                               "triangle")
        tuned = train(project, TrainSettings(parent=base.version_id, freeze="all", size=SIZE, batch_size=4,
                                             val_share=0.15, threads=THREADS, epochs=6,
                                             classes=("circle", "square", "triangle")), progress=_log_epochs)
    before, after = tuned.before, tuned.after
    assert before is not None and after is not None
    print(f"before: {before.per_class_ap50}\nafter:  {after.per_class_ap50}\n{time.monotonic() - started:.0f} s")
    assert before.per_class_ap50["triangle"] == 0.0  # the parent cannot name it
    assert after.per_class_ap50["triangle"] >= 0.5
    for name in ("circle", "square"):
        assert after.per_class_ap50[name] >= 0.8 * before.per_class_ap50[name], name
