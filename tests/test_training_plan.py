"""Problems a user can fix are clear one-line errors raised before any training step (training/plan.py),
and a loss that turns non-finite stops the loop with one (training/loop.py)."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
import torch

from detector_app.errors import TrainingError
from detector_app.storage import Project
from detector_app.training import TrainResult, TrainSettings, resume, train
from detector_app.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from detector_app.training.data import Sample
from detector_app.training.events import EpochDone, StepDone
from detector_app.training.loop import FitJob, fit
from detector_app.training.plan import run_dir

from .synthetic_shapes import make_shapes_dataset, store_in_project

TINY = dict(size=64, batch_size=4, epochs=1, parent="scratch", freeze="all", threads=1)


@pytest.fixture
def project(project_dir: Path) -> Project:
    with Project.open(project_dir) as project:
        yield project


@pytest.fixture
def shapes_project(project: Project) -> Project:
    store_in_project(project.repo, make_shapes_dataset(10, seed=4, out_dir=project.path / "images", size=64,
                                                        object_size=(0.3, 0.5)))
    return project


def _train_expecting_error(project: Project, settings: TrainSettings, match: str) -> None:
    events: list[object] = []
    with pytest.raises(TrainingError, match=match):
        train(project, settings, progress=events.append)
    assert not any(isinstance(e, StepDone) for e in events)


def test_empty_training_set(project: Project) -> None:
    data = make_shapes_dataset(2, seed=0, out_dir=project.path / "images", size=64)
    for item in data.images:
        project.repo.add_image(item.path)  # registered but never reviewed
    _train_expecting_error(project, TrainSettings(**TINY), "no reviewed images to train on")
    assert project.repo.training_runs() == []


def test_only_rejected_boxes_is_an_empty_training_set(project: Project) -> None:
    image = project.repo.add_image(make_shapes_dataset(1, out_dir=project.path / "i", size=64).images[0].path)
    ann = project.repo.add_annotation(image.id, "circle", (1, 1, 20, 20))
    project.repo.set_status(ann.id, "rejected")
    _train_expecting_error(project, TrainSettings(**TINY), "no boxes")


def test_class_without_examples(shapes_project: Project) -> None:
    settings = TrainSettings(**TINY, classes=("circle", "hexagon"))
    _train_expecting_error(shapes_project, settings, "no training examples for class hexagon")
    assert shapes_project.repo.training_runs() == []


def test_corrupt_checkpoint(shapes_project: Project) -> None:
    folder = run_dir(shapes_project, 1)
    folder.mkdir(parents=True)
    (folder / CHECKPOINT_NAME).write_bytes(b"\x80\x02 not a checkpoint at all")
    with pytest.raises(TrainingError, match="cannot resume") as err:
        resume(shapes_project, 1)
    shapes_project.repo.add_training_run({"epochs": 2})
    with pytest.raises(TrainingError, match="corrupt or not a checkpoint"):
        resume(shapes_project, 1)
    assert "\n" not in str(err.value)


def test_mismatched_checkpoint(shapes_project: Project) -> None:
    first = _train_one_of_two_epochs(shapes_project)
    assert first.status == "cancelled" and first.checkpoint is not None
    state = load_checkpoint(first.checkpoint)
    state["class_names"] = [*state["class_names"], "hexagon"]  # model tensors are for 3 classes
    save_checkpoint(first.checkpoint, {k: v for k, v in state.items() if k != "format"})
    events: list[object] = []
    with pytest.raises(TrainingError, match="do not match the model: .*wrong shape"):
        resume(shapes_project, first.run_id, progress=events.append)
    assert events == []


def test_unreadable_parent_weights(shapes_project: Project, tmp_path: Path) -> None:
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"garbage")
    _train_expecting_error(shapes_project, TrainSettings(**{**TINY, "parent": str(bad)}),
                           "cannot use the parent model: broken.pth is not a readable weight file")
    _train_expecting_error(shapes_project, TrainSettings(**{**TINY, "parent": 99}),
                           "cannot use the parent model: model version 99 is not in the project")


def test_a_frozen_random_backbone_is_refused(shapes_project: Project) -> None:
    settings = TrainSettings(**{**TINY, "freeze": "heads"})
    _train_expecting_error(shapes_project, settings, "from scratch must train everything")


def test_invalid_settings_are_rejected_up_front() -> None:
    with pytest.raises(TrainingError, match="freeze level"):
        TrainSettings(freeze="backbone")  # type: ignore[arg-type]
    with pytest.raises(TrainingError, match="validation share"):
        TrainSettings(val_share=1.0)


def test_non_finite_loss_stops_with_a_clear_message(tmp_path: Path) -> None:
    from detector_app.detection.presets import build_model

    data = make_shapes_dataset(4, seed=1, out_dir=tmp_path, size=64)
    samples = [Sample(i, d.path, 64, 64, d.boxes, d.labels) for i, d in enumerate(data.images)]
    model = build_model("retinanet_light", 4)
    with torch.no_grad():
        model.head.classification_head.cls_logits.bias.fill_(math.nan)
    job = FitJob(model, "retinanet_light", ("__background__", "circle", "square", "triangle"),
                 TrainSettings(**TINY), samples, [], True, tmp_path / "ck.pth")
    with pytest.raises(TrainingError, match="loss became non-finite at epoch 1, step 1"):
        fit(job)
    assert not (tmp_path / "ck.pth").exists()


def _train_one_of_two_epochs(project: Project) -> TrainResult:
    cancel = threading.Event()

    def progress(event: object) -> None:
        if isinstance(event, EpochDone):
            cancel.set()

    return train(project, TrainSettings(**{**TINY, "epochs": 2}), progress=progress, cancel=cancel)
