"""The default recipe's data-dependent choices (issue 18): epochs from the set size, anchors fitted to the boxes,
a time budget, mosaic, and keeping the best epoch rather than the last."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.detection.presets import anchor_sizes_from
from detector_app.storage import Project
from detector_app.training import TrainSettings, load_version, train
from detector_app.training import loop as loop_module
from detector_app.training.data import DetectionDataset, Sample, make_transform
from detector_app.training.events import EvalResult
from detector_app.training.recipe import auto_epochs, budget_epochs, fit_anchor_sizes, schedule_summary

from .synthetic_shapes import make_shapes_dataset

TINY = dict(size=64, batch_size=4, parent="scratch", freeze="all", threads=1, val_share=0.25)


@pytest.fixture
def shapes_project(shapes_project_dir: Path) -> Iterator[Project]:
    with Project.open(shapes_project_dir, create=False) as project:
        yield project


def _sample(i: int, sides: list[float], width: int = 640, height: int = 480) -> Sample:
    boxes = np.array([[10, 10, 10 + s, 10 + s] for s in sides], dtype=np.float32).reshape(-1, 4)
    return Sample(i, Path(f"/nonexistent/{i}.png"), width, height, boxes, ("a",) * len(sides))


def test_epochs_follow_the_set_size_within_bounds() -> None:
    assert auto_epochs(128, from_scratch=True) == 20 and auto_epochs(128, from_scratch=False) == 8
    assert auto_epochs(10, from_scratch=True) == 40 and auto_epochs(100_000, from_scratch=True) == 4
    assert auto_epochs(420, from_scratch=True) == 6


def test_anchors_start_at_the_smallest_boxes_at_the_input_size() -> None:
    # 640 px images trained at 320: boxes of 48-180 px become 24-90 px, so P3 anchors start at 16 px.
    samples = [_sample(i, list(np.linspace(48, 180, 10))) for i in range(5)]
    assert fit_anchor_sizes(samples, 320) == anchor_sizes_from(16)
    assert fit_anchor_sizes(samples, 640) is None  # 48 px and up: torchvision's 32 px already fit
    assert fit_anchor_sizes([_sample(0, [4.0] * 20)], 640) == anchor_sizes_from(8)  # never below 8 px
    assert fit_anchor_sizes([_sample(0, [])], 320) is None


def test_a_time_budget_shortens_the_run_at_the_pace_of_the_last_epoch() -> None:
    assert budget_epochs(20, 1, 60.0, None) == 20
    assert budget_epochs(20, 2, 120.0, 10.0) == 10  # 8 more minutes at one a minute
    assert budget_epochs(20, 2, 20.0, 10.0) == 20  # fast: the epochs are the limit
    assert budget_epochs(20, 3, 700.0, 10.0) == 3  # over: stop after this one
    # One slow epoch (other work on the machine) counts in the mean: 8 at a minute, then one of 3 minutes.
    assert budget_epochs(20, 9, 660.0, 15.0) == 12


def test_the_schedule_summary_names_every_choice() -> None:
    text = schedule_summary(TrainSettings(size=320, minutes=15, mosaic=0.5), 128, True, anchor_sizes_from(16))
    for part in ("20 epochs (chosen from the set size)", "640 steps of 4 images", "warm-up 50 steps",
                 "cosine", "scale jitter", "mosaic", "Anchors 16-406 px", "best validation mAP", "At most 15 min"):
        assert part in text, part
    fine_tune = schedule_summary(TrainSettings(epochs=3, freeze="heads", keep_best=False), 40, False)
    assert fine_tune.startswith("3 epochs, 30 steps") and "cached features" in fine_tune
    assert "anchors of the start model" in fine_tune.lower() and "Keeps the last epoch" in fine_tune


def test_mosaic_pastes_crops_of_four_images_with_their_boxes(tmp_path: Path) -> None:
    data = make_shapes_dataset(6, seed=3, out_dir=tmp_path, size=(96, 64), objects=(2, 4), object_size=(0.2, 0.35))
    samples = [Sample(i, d.path, d.width, d.height, d.boxes, d.labels) for i, d in enumerate(data.images)]
    dataset = DetectionDataset(samples, data.class_names, make_transform(96), mosaic=1.0)
    pixels = {tuple(c) for d in data.images for c in d.image.reshape(-1, 3)[:, ::-1].tolist()}
    for seed in range(8):
        image, target = dataset.item(seed % 6, seed)
        assert image.shape == (3, 64, 96)
        boxes = target["boxes"]
        assert len(boxes) == len(target["labels"])
        assert bool((boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 96).all() and (boxes[:, 3] <= 64).all())
        assert bool(((boxes[:, 2:] - boxes[:, :2]) > 0).all())
        # Every pixel comes from one of the images: a crop, not a blend or a resize.
        rgb = (image * 255).round().to(torch.uint8).permute(1, 2, 0).reshape(-1, 3).tolist()
        assert all(tuple(p) in pixels for p in rgb[::37])


def test_the_version_keeps_the_epoch_with_the_best_validation_map(shapes_project: Project,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    scores = iter([0.5, 0.1])
    snapshots: list[dict[str, torch.Tensor]] = []

    def scored(job: object, model: torch.nn.Module, *_args: object) -> EvalResult:
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        value = next(scores)
        return EvalResult(value, value, {}, {}, 3)

    monkeypatch.setattr(loop_module, "_evaluate", scored)
    result = train(shapes_project, TrainSettings(**TINY, epochs=2))
    assert result.status == "finished" and result.epochs_done == 2
    assert result.after is not None and result.after.map == 0.5
    version = shapes_project.repo.get_model_version(result.version_id)
    assert version.metrics["kept_epoch"] == 1
    kept = load_version(shapes_project, result.version_id).model.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in snapshots[0].items() if not k.endswith("num_batches_tracked"))
    assert not all(torch.equal(snapshots[0][k], v) for k, v in snapshots[1].items())  # epoch 2 did change it


def test_a_run_past_its_time_budget_ends_after_the_epoch_and_registers_a_version(shapes_project: Project) -> None:
    result = train(shapes_project, TrainSettings(**TINY, epochs=5, minutes=1e-4))
    assert result.status == "finished" and result.epochs_done == 1 and result.version_id is not None
