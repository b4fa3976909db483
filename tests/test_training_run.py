"""A few steps on tiny images end to end: database -> training -> model version -> detector; cancel,
resume, the cached-feature path and the class-head surgery."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.detection.presets import PRIOR_PROBABILITY, build_model
from detector_app.storage import Project
from detector_app.training import TrainSettings, activate_version, load_version, resume, train
from detector_app.training.data import DetectionDataset, Sample, make_transform
from detector_app.training.events import EpochDone, RunFinished, RunStarted, StepDone
from detector_app.training.features import FeatureCache, batch_loss, collate
from detector_app.training.model_setup import adapt_classes, apply_freeze

from .synthetic_shapes import make_shapes_dataset

TINY = dict(size=64, batch_size=4, parent="scratch", freeze="all", threads=1, val_share=0.25)


@pytest.fixture
def shapes_project(shapes_project_dir: Path) -> Iterator[Project]:
    with Project.open(shapes_project_dir, create=False) as project:
        yield project


def test_tiny_run_registers_a_version_the_detector_can_swap_to(shapes_project: Project) -> None:
    from detector_app.detection.detector import Detector, DetectorConfig
    from detector_app.detection.weights import load_model

    events: list[object] = []
    result = train(shapes_project, TrainSettings(**TINY, epochs=1), progress=events.append)

    assert result.status == "finished" and result.version_id is not None
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished and StepDone in kinds and EpochDone in kinds
    step = next(e for e in events if isinstance(e, StepDone))
    assert set(step.losses) == {"classification", "bbox_regression"} and step.images_per_s > 0
    version = shapes_project.repo.get_model_version(result.version_id)
    assert version.preset == "retinanet_light_gn" and version.parent_id is None  # the default for a new model
    assert set(version.class_names) == {"circle", "square", "triangle"}
    assert version.weights_path == shapes_project.path / "models" / "v1.pth" and version.weights_path.is_file()
    assert version.metrics["after"]["images"] == 3 and len(version.metrics["history"]) == 1
    run = shapes_project.repo.get_training_run(result.run_id)
    assert run.status == "finished" and run.model_version_id == version.id
    assert sorted(run.settings["split"]["train"] + run.settings["split"]["val"]) == list(range(1, 13))

    detector = Detector(load_model("retinanet_light", weights="none"), DetectorConfig(size=64, device="cpu"))
    activate_version(shapes_project, version.id)
    detector.swap_model(load_version(shapes_project))  # the active version
    assert detector.name == "v1 (retinanet_light_gn)"
    assert detector._engine.net.model.anchor_generator.sizes[0] == (32.0, 40.0, 50.0)  # torchvision's by default
    # Anchors fitted to the 19-32 px shapes start at 16 px, and the version's file says so to the detector.
    fitted = train(shapes_project, TrainSettings(**TINY, epochs=1, fit_anchors=True))
    assert load_version(shapes_project, fitted.version_id).model.anchor_generator.sizes[0] == (16.0, 20.0, 25.0)
    assert detector.class_names == ("__background__", *version.class_names)
    detector.predict(np.zeros((64, 64, 3), np.uint8))


def test_fine_tune_records_parent_and_before_metrics(shapes_project: Project) -> None:
    first = train(shapes_project, TrainSettings(**TINY, epochs=1))
    second = train(shapes_project, TrainSettings(**{**TINY, "parent": first.version_id, "freeze": "heads"},
                                                  epochs=1))
    version = shapes_project.repo.get_model_version(second.version_id)
    assert version.parent_id == first.version_id
    assert second.before is not None and second.before.images == 3
    assert version.metrics["before"]["map"] == pytest.approx(second.before.map)


def test_cancel_stops_within_one_step_and_resume_finishes(shapes_project: Project) -> None:
    cancel = threading.Event()
    steps: list[StepDone] = []

    def progress(event: object) -> None:
        if isinstance(event, StepDone):
            steps.append(event)
            if event.epoch == 1 and event.step == 1:
                cancel.set()

    result = train(shapes_project, TrainSettings(**TINY, epochs=3), progress=progress, cancel=cancel)

    assert result.status == "cancelled" and result.epochs_done == 1 and result.version_id is None
    assert [(s.epoch, s.step) for s in steps][-1] == (1, 1)  # no step after the cancel
    assert result.checkpoint is not None and result.checkpoint.is_file()
    assert shapes_project.repo.get_training_run(result.run_id).status == "cancelled"

    resumed = resume(shapes_project, result.run_id)
    assert resumed.status == "finished" and resumed.epochs_done == 3
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert shapes_project.repo.get_training_run(result.run_id).model_version_id == resumed.version_id


def test_cached_features_give_the_same_loss_as_the_full_forward(tmp_path: Path) -> None:
    data = make_shapes_dataset(3, seed=2, out_dir=tmp_path, size=(96, 64))
    samples = [Sample(i, d.path, 96, 64, d.boxes, d.labels) for i, d in enumerate(data.images)]
    classes = ("circle", "square", "triangle")
    torch.manual_seed(0)
    model = build_model("retinanet_light", 4)
    apply_freeze(model, "heads")
    model.eval()
    dataset = DetectionDataset(samples, classes, make_transform(96))
    cache = FeatureCache()
    assert cache.build(model, dataset, torch.device("cpu"), bf16=False)
    for i in range(3):
        image, target = dataset[i]
        width = image.shape[-1]
        mirrored = {"boxes": torch.stack([width - target["boxes"][:, 2], target["boxes"][:, 1],
                                          width - target["boxes"][:, 0], target["boxes"][:, 3]], 1),
                    "labels": target["labels"]}
        for variant, batch in enumerate((collate([(image, target)]), collate([(image.flip(-1), mirrored)]))):
            full = batch_loss(model, batch, torch.device("cpu"), bf16=False)
            cached = cache.loss(model, [(i, variant)], torch.device("cpu"), bf16=False)
            for key in full:
                assert cached[key].item() == pytest.approx(full[key].item(), rel=2e-2, abs=1e-3)


def test_feature_cache_spills_to_disk_over_its_budget(tmp_path: Path) -> None:
    data = make_shapes_dataset(2, seed=2, out_dir=tmp_path / "img", size=64)
    samples = [Sample(i, d.path, 64, 64, d.boxes, d.labels) for i, d in enumerate(data.images)]
    model = build_model("retinanet_light", 4).eval()
    cache = FeatureCache(memory_budget_bytes=0, spill_dir=tmp_path / "spill")
    cache.build(model, DetectionDataset(samples, ("circle", "square", "triangle"), make_transform(64)),
                torch.device("cpu"), bf16=False)
    assert cache.on_disk == 4 and len(list((tmp_path / "spill").glob("*.pt"))) == 4
    batch = next(cache.epoch_batches(np.random.default_rng(0), 2))
    assert set(cache.loss(model, batch, torch.device("cpu"), bf16=False)) == {"classification", "bbox_regression"}
    cache.close()
    assert list((tmp_path / "spill").glob("*.pt")) == []


def test_new_class_head_keeps_known_classes_and_starts_new_ones_at_the_prior() -> None:
    torch.manual_seed(0)
    model = build_model("retinanet_light", 3)
    old_head = model.head.classification_head
    old_w, old_b = old_head.cls_logits.weight.detach().clone(), old_head.cls_logits.bias.detach().clone()
    backbone_before = model.backbone.body.conv1.weight.detach().clone()
    box_before = model.head.regression_head.bbox_reg.weight.detach().clone()

    adapt_classes(model, ("__background__", "circle", "square"), ("__background__", "square", "circle", "star"))

    new = model.head.classification_head
    assert new.cls_logits.out_channels == 9 * 4
    for a in range(9):
        assert torch.equal(new.cls_logits.weight[a * 4 + 1], old_w[a * 3 + 2])  # square moved to index 1
        assert torch.equal(new.cls_logits.weight[a * 4 + 2], old_w[a * 3 + 1])
        assert new.cls_logits.bias[a * 4 + 2] == old_b[a * 3 + 1]
        prior = -np.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
        assert new.cls_logits.bias[a * 4 + 3].item() == pytest.approx(prior, rel=1e-5)
    assert torch.equal(model.backbone.body.conv1.weight, backbone_before)
    assert torch.equal(model.head.regression_head.bbox_reg.weight, box_before)


def test_freeze_levels_choose_what_trains() -> None:
    model = build_model("retinanet_light", 3)
    names = {id(p): n for n, p in model.named_parameters()}

    def trained(level: str) -> set[str]:
        return {names[id(p)] for p in apply_freeze(model, level)}

    heads, fpn, everything = trained("heads"), trained("fpn"), trained("all")
    assert heads == {n for n in names.values() if n.startswith("head.")}
    assert fpn == heads | {n for n in names.values() if n.startswith("backbone.fpn.")}
    assert everything == set(names.values())
