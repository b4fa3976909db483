"""The train/validation split respects the user's split (training/data.py split_samples, used by plan_run):
val images are never trained on, test images are held out, and without any split the old random split holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector_app.storage import Project
from detector_app.training import TrainSettings
from detector_app.training.data import Sample, split_ids, split_samples
from detector_app.training.plan import plan_run

from .synthetic_shapes import make_shapes_dataset, store_in_project


def samples(splits: list[str | None]) -> list[Sample]:
    return [Sample(i + 1, Path(f"{i}.png"), 10, 10, np.zeros((0, 4), np.float32), (), split)
            for i, split in enumerate(splits)]


def ids(chosen: list[Sample]) -> list[int]:
    return [s.image_id for s in chosen]


def test_without_user_splits_the_split_is_the_old_random_one() -> None:
    plain = samples([None] * 20)
    train, val = split_samples(plain, 0.25, seed=3)
    assert (ids(train), ids(val)) == split_ids(list(range(1, 21)), 0.25, seed=3)


def test_user_val_images_are_validated_on_only_and_test_images_are_held_out() -> None:
    chosen = samples(["train", "val", None, "test", "val", None, "train"])
    train, val = split_samples(chosen, 0.5, seed=0)
    assert ids(val) == [2, 5]  # exactly the user's val images, whatever the share
    assert ids(train) == [1, 3, 6, 7]  # train images and the ones without a split
    assert 4 not in ids(train) + ids(val)


def test_with_train_and_test_but_no_val_the_unsplit_images_are_split_as_before() -> None:
    chosen = samples(["train", "train", "test"] + [None] * 8)
    train, val = split_samples(chosen, 0.25, seed=5)
    free_train, free_val = split_ids(list(range(4, 12)), 0.25, seed=5)
    assert ids(val) == free_val
    assert ids(train) == sorted([1, 2, *free_train])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_planned_run_never_trains_on_the_users_val_images(project_dir: Path, seed: int) -> None:
    with Project.open(project_dir) as project:
        store_in_project(project.repo, make_shapes_dataset(10, seed=4, out_dir=project.path / "images", size=64))
        image_ids = [i.id for i in project.repo.list_images(limit=100)]
        project.repo.set_split(image_ids[:3], "val")
        project.repo.set_split(image_ids[3:4], "test")
        plan = plan_run(project, TrainSettings(size=64, parent="scratch", freeze="all", seed=seed, val_share=0.5))
    assert plan.split() == {"train": image_ids[4:], "val": image_ids[:3]}
