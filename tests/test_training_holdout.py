"""The frozen holdout (training/holdout.py): chosen once, stratified and seeded, grown only when asked, never trained
on, the before/after and version scores on it, and a version below the active one flagged before activation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from detector_app.detection.presets import build_model
from detector_app.storage import Project
from detector_app.training import TrainSettings, train
from detector_app.training.data import DetectionDataset
from detector_app.training.holdout import (
    HoldoutError,
    ensure_holdout,
    format_holdout,
    grow_holdout,
    holdout_count,
    pick_stratified,
    read_holdout,
)
from detector_app.training.version_scores import activate_checked, check_activation
from detector_app.training.versions import register_version

from .synthetic_shapes import make_shapes_dataset, store_in_project

TINY = dict(size=64, batch_size=4, parent="scratch", freeze="all", threads=1, val_share=0.25)
NAMES = ("__background__", "circle", "square", "triangle")


@pytest.fixture
def shapes_project(shapes_project_dir: Path) -> Iterator[Project]:
    with Project.open(shapes_project_dir, create=False) as project:
        yield project


def test_rare_classes_are_taken_first_and_the_draw_is_seeded() -> None:
    # 10 images: 8 with "car" only, 2 with "bus"; a holdout of 2 with quotas 20% of each class.
    candidates = {i: frozenset({"car"}) for i in range(1, 9)} | {9: frozenset({"bus"}), 10: frozenset({"bus", "car"})}
    quotas = {"car": 9 * 0.2, "bus": 2 * 0.2}  # car 1.8 -> 2 wanted, bus 0.4 -> none wanted by quota alone
    first = pick_stratified(candidates, 2, quotas, seed=3)
    assert first == pick_stratified(candidates, 2, quotas, seed=3)  # seeded
    assert len(first) == 2 and set(first) <= set(candidates)
    quotas["bus"] = 1.0  # one bus image wanted: a bus image is considered first (bus is the rarer class)
    for seed in range(5):
        assert {9, 10} & set(pick_stratified(candidates, 2, quotas, seed=seed))


def test_negatives_fill_after_the_class_quotas() -> None:
    candidates = {1: frozenset({"a"}), 2: frozenset(), 3: frozenset(), 4: frozenset({"a"})}
    picked = pick_stratified(candidates, 3, {"a": 1.0}, seed=0)
    assert len(picked) == 3 and len({1, 4} & set(picked)) == 1  # one "a" image by quota, the rest at random


def test_holdout_count_rule() -> None:
    assert [holdout_count(n) for n in (0, 4, 5, 12, 100)] == [0, 0, 1, 2, 20]


def test_chosen_once_never_rechosen_grown_only_when_asked(shapes_project: Project) -> None:
    repo = shapes_project.repo
    assert read_holdout(repo).size == 0 and "none" in format_holdout(read_holdout(repo))
    first = ensure_holdout(repo, seed=1)
    assert first.size == 2 and first.added == 2 and first.reviewed == 2
    assert repo.split_counts()["test"] == 2
    again = ensure_holdout(repo, seed=99)  # another seed: the holdout exists, it is not re-chosen
    assert again.image_ids == first.image_ids and again.added == 0
    grown = grow_holdout(repo, 3, seed=5)
    assert grown.size == 5 and set(first.image_ids) < set(grown.image_ids) and grown.added == 3
    assert sum(grown.class_counts.values()) >= 5  # every generated image holds at least one shape
    text = format_holdout(grown)
    assert "5 images" in text and "3 added" in text and "circle" in text


def test_growing_past_the_reviewed_images_is_refused_with_nothing_changed(shapes_project: Project) -> None:
    repo = shapes_project.repo
    ensure_holdout(repo)
    before = repo.split_counts()
    with pytest.raises(HoldoutError, match="cannot grow the holdout by 10: 10 reviewed"):
        grow_holdout(repo, 10)
    with pytest.raises(HoldoutError, match="positive"):
        grow_holdout(repo, 0)
    assert repo.split_counts() == before


def test_too_few_reviewed_images_make_no_holdout(project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        store_in_project(project.repo, make_shapes_dataset(4, seed=1, out_dir=project.path / "images", size=64))
        with pytest.raises(HoldoutError, match="at least 5 reviewed images; the project has 4"):
            ensure_holdout(project.repo)
        assert project.repo.split_counts()["test"] == 0


def test_no_holdout_image_reaches_a_training_batch(shapes_project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every image the real loader hands to training (DetectionDataset, used by the batches and the feature cache)
    is recorded through a fine-tune of 2 epochs; the holdout is scored before and after, never loaded there."""
    holdout = set(grow_holdout(shapes_project.repo, 4, seed=2).image_ids)
    loaded: list[int] = []
    real_getitem = DetectionDataset.__getitem__

    def recording(self: DetectionDataset, i: int) -> object:
        loaded.append(self.samples[i].image_id)
        return real_getitem(self, i)

    monkeypatch.setattr(DetectionDataset, "__getitem__", recording)
    first = train(shapes_project, TrainSettings(**TINY, epochs=1))
    second = train(shapes_project, TrainSettings(**{**TINY, "parent": first.version_id, "freeze": "heads"}, epochs=2))
    assert loaded and len(holdout) == 6  # 2 chosen + 4 grown
    assert not holdout & set(loaded), f"holdout images {sorted(holdout & set(loaded))} were trained on"
    run = shapes_project.repo.get_training_run(second.run_id)
    assert not holdout & set(run.settings["split"]["train"] + run.settings["split"]["val"])
    version = shapes_project.repo.get_model_version(second.version_id)
    assert version.metrics["scored_on"] == "holdout" and sorted(version.metrics["holdout_ids"]) == sorted(holdout)
    assert second.before is not None and second.before.images == 6 and second.after.images == 6


def test_without_a_holdout_scores_stay_on_the_validation_split(shapes_project: Project) -> None:
    result = train(shapes_project, TrainSettings(**TINY, epochs=1))
    version = shapes_project.repo.get_model_version(result.version_id)
    assert version.metrics["scored_on"] == "validation" and version.metrics["holdout_ids"] == []
    assert result.after.images == 3  # a quarter of the 12 images, as before the holdout existed


def _register(project: Project, fires: bool, name: str, activate: bool = False) -> int:
    """A real light RetinaNet: ``fires`` sets every class logit high (boxes everywhere, some on the shapes: AP > 0);
    otherwise the prior bias keeps every score under the evaluation threshold (no detection: AP 0)."""
    torch.manual_seed(0)
    model = build_model("retinanet_light", len(NAMES))
    if fires:
        with torch.no_grad():
            model.head.classification_head.cls_logits.bias.fill_(4.0)
    return register_version(project, model, preset="retinanet_light", class_names=NAMES, parent_id=None,
                            settings={"size": 64}, metrics={}, name=name, activate=activate).id


@pytest.mark.slow  # six evaluations of two models: ~40 s on a loaded 2-core machine
def test_a_version_below_the_active_one_is_flagged_and_rollback_works(shapes_project: Project) -> None:
    repo = shapes_project.repo
    silent = _register(shapes_project, fires=False, name="silent")
    no_holdout = check_activation(shapes_project, silent, device="cpu")
    assert not no_holdout.on_holdout and not no_holdout.worse and "no holdout" in no_holdout.message({})
    ensure_holdout(repo)
    eager = _register(shapes_project, fires=True, name="eager", activate=True)

    check = activate_checked(shapes_project, silent, device="cpu")
    assert check.worse and check.active_id == eager and check.version_map == 0.0 and check.active_map > 0
    assert repo.active_model_version().id == eager  # flagged: not activated
    assert "BELOW" in check.message({silent: "silent", eager: "eager"})

    forced = activate_checked(shapes_project, silent, force=True, device="cpu")  # rollback, deliberately
    assert forced.worse and repo.active_model_version().id == silent
    back = activate_checked(shapes_project, eager, device="cpu")  # the better one again: not flagged
    assert not back.worse and repo.active_model_version().id == eager
