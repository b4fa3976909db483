"""Training data from the project: which boxes are targets, the split, the generated set, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.core.detections import Detections
from detector_app.storage import Project
from detector_app.training.data import DetectionDataset, make_transform, split_ids
from detector_app.training.plan import plan_run, reviewed_samples
from detector_app.training.settings import TrainSettings

from .synthetic_shapes import _draw_shape, make_shapes_dataset, store_in_project

NAMES = ("__background__", "circle", "square", "triangle")


def _predictions(boxes: list[tuple[float, float, float, float]], labels: list[int]) -> Detections:
    return Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.9), np.array(labels), NAMES)


@pytest.fixture
def project(project_dir: Path) -> Project:
    with Project.open(project_dir) as project:
        yield project


def test_rejected_predictions_never_become_targets(project: Project) -> None:
    images = make_shapes_dataset(4, seed=3, out_dir=project.path / "images", size=96).images
    ids = [project.repo.add_image(item.path).id for item in images]
    repo = project.repo
    # Image 0: one prediction accepted, one rejected, one box drawn by a person.
    kept, rejected = repo.add_predictions(ids[0], _predictions([(5, 5, 40, 40), (50, 50, 90, 90)], [1, 2]))
    repo.set_status(kept.id, "accepted")
    repo.set_status(rejected.id, "rejected")
    repo.add_annotation(ids[0], "triangle", (10, 50, 30, 30))
    # Image 1: every prediction rejected: a negative example. Image 2: moved box becomes corrected.
    (only,) = repo.add_predictions(ids[1], _predictions([(0, 0, 30, 30)], [3]))
    repo.set_status(only.id, "rejected")
    (moved,) = repo.add_predictions(ids[2], _predictions([(0, 0, 30, 30)], [1]))
    repo.update_bbox(moved.id, (2, 3, 40, 41))
    # Image 3: predictions never reviewed.
    repo.add_predictions(ids[3], _predictions([(0, 0, 20, 20)], [1]))

    samples = {s.image_id: s for s in reviewed_samples(project)}

    assert sorted(samples) == ids[:3]
    assert samples[ids[0]].boxes.tolist() == [[5, 5, 40, 40], [10, 50, 40, 80]]
    assert samples[ids[0]].labels == ("circle", "triangle")
    assert samples[ids[1]].boxes.shape == (0, 4)  # negative example, still trained on
    assert samples[ids[2]].boxes.tolist() == [[2, 3, 42, 44]]
    dataset = DetectionDataset(list(samples.values()), ("circle", "square", "triangle"), make_transform(96))
    targets = [dataset[i][1] for i in range(len(dataset))]
    every_box = torch.cat([t["boxes"] for t in targets])
    assert len(every_box) == 3
    assert not any(torch.allclose(b, torch.tensor([50.0, 50, 90, 90])) for b in every_box)
    plan = plan_run(project, TrainSettings(parent="scratch", size=96, val_share=0.0, epochs=1))
    assert "square" not in plan.class_names  # its only box was rejected


def test_split_is_deterministic_and_independent_of_order() -> None:
    ids = list(range(1, 41))
    train, val = split_ids(ids, 0.25, seed=7)
    assert (train, val) == split_ids(list(reversed(ids)), 0.25, seed=7)
    assert len(val) == 10 and sorted(train + val) == ids
    assert split_ids(ids, 0.25, seed=8) != (train, val)
    assert split_ids([5], 0.5, seed=0) == ([5], [])


def test_generated_set_is_reproducible_and_boxes_are_exact(tmp_path: Path) -> None:
    a = make_shapes_dataset(6, seed=11, out_dir=tmp_path / "a", size=(120, 90))
    b = make_shapes_dataset(6, seed=11, out_dir=tmp_path / "b", size=(120, 90))
    for x, y in zip(a.images, b.images, strict=True):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes) and x.labels == y.labels
        assert x.image.shape == (90, 120, 3)
        assert x.path is not None and x.path.is_file()
    assert {label for item in a.images for label in item.labels} <= {"circle", "square", "triangle"}
    for kind in ("circle", "square", "triangle"):
        for side in (5, 16, 33):
            canvas = np.zeros((60, 60, 3), np.uint8)
            _draw_shape(canvas, kind, (7, 9, 7 + side, 9 + side), (255, 255, 255))
            ys, xs = np.nonzero(canvas[..., 0])
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (7, 9, 7 + side, 9 + side)


def test_photo_backgrounds_and_negatives(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    import cv2

    cv2.imwrite(str(photo), np.full((50, 70, 3), 17, np.uint8))
    data = make_shapes_dataset(30, seed=2, size=64, background_photos=[photo], negatives=0.5)
    assert any(len(item.labels) == 0 for item in data.images)
    assert any((item.image == 17).mean() > 0.5 for item in data.images)  # a crop of the (flat) photo


def test_store_in_project_makes_reviewed_human_boxes(project: Project) -> None:
    data = make_shapes_dataset(3, seed=1, out_dir=project.path / "imgs", size=64)
    ids = store_in_project(project.repo, data)
    assert project.repo.count_images("reviewed") == 3
    anns = project.repo.annotations_for_image(ids[0])
    assert {(a.origin, a.status) for a in anns} <= {("human", "accepted")}
    assert len(anns) == len(data.images[0].labels)


def test_scale_jitter_and_flip_move_boxes_with_the_image(tmp_path: Path) -> None:
    from torch.nn.functional import interpolate

    from detector_app.training.data import Sample, load_image

    item = make_shapes_dataset(1, seed=5, out_dir=tmp_path, size=(100, 80), objects=(2, 2)).images[0]
    sample = Sample(1, item.path, 100, 80, item.boxes, item.labels)
    original = load_image(item.path).float() / 255
    torch.manual_seed(0)
    for _ in range(8):
        image, target = DetectionDataset([sample], list(item.labels), make_transform(200, 0.25, flip=True))[0]
        scale = image.shape[-1] / 100
        assert 0.75 * 2 - 0.02 <= scale <= 1.25 * 2 + 0.02
        for box, (ox1, oy1, ox2, oy2) in zip(target["boxes"], item.boxes.astype(int).tolist(), strict=True):
            x1, y1, x2, y2 = box.round().int().tolist()
            assert abs((x2 - x1) / scale - (ox2 - ox1)) <= 1.5
            # The pixels under the moved box are the object's pixels (mirrored or not: the shapes are symmetric).
            crop = image[:, y1:y2, x1:x2]
            source = interpolate(original[None, :, oy1:oy2, ox1:ox2], size=crop.shape[-2:], mode="bilinear")[0]
            diffs = [(crop - source).abs().mean().item(), (crop - source.flip(-1)).abs().mean().item()]
            assert min(diffs) < 0.06, diffs
