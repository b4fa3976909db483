"""The active-learning benchmark's simulated annotator (benchmarks/active_learning_sim.py) on a real project: what it
writes is exactly the ground truth, what it counts is what a person would have done, and the holdout is never
picked; a tiny run of both arms gets the same budget and never trains on the holdout."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_active_learning as bench
from benchmarks.active_learning_sim import (
    Cost,
    Truth,
    correct_image,
    cost_of,
    labels_in_db,
    pick,
    plan_corrections,
)
from detector_app.core.detections import Detections
from detector_app.core.labels import Origin, Status
from detector_app.storage import Project
from detector_app.training.events import EvalResult
from detector_app.training.plan import run_dir

from .synthetic_shapes import make_shapes_dataset

NAMES = ("__background__", "circle", "square", "triangle")
TRUTH = Truth(np.array([[0, 0, 20, 20], [30, 0, 50, 20], [0, 30, 20, 50], [30, 30, 50, 50]], np.float32),
              ("circle", "square", "triangle", "circle"))


def _proposals() -> tuple[list[tuple[float, ...]], list[str], list[float]]:
    """Hand-made proposals against TRUTH: one of each action, and a duplicate."""
    boxes = [(0, 0, 20, 20),  # circle exactly: accepted
             (1, 0, 21, 20),  # lower-scored duplicate of the circle, which is already taken: rejected
             (34, 0, 54, 20),  # the square moved 4 px: IoU 16/24 = 0.667, adjusted
             (0, 30, 20, 50),  # the triangle called a square: relabelled
             (60, 60, 70, 70)]  # nothing there: rejected
    # the fourth ground-truth box (circle at 30,30) has no proposal: drawn
    return boxes, ["circle", "circle", "square", "square", "triangle"], [0.9, 0.6, 0.8, 0.7, 0.55]


def test_plan_counts_each_action_by_hand() -> None:
    boxes, labels, scores = _proposals()
    actions = plan_corrections(boxes, labels, scores, TRUTH)
    assert [(a.kind, a.proposal, a.truth) for a in actions] == [
        ("accepted", 0, 0), ("rejected", 1, None), ("adjusted", 2, 1), ("relabelled", 3, 2), ("rejected", 4, None),
        ("drawn", None, 3)]
    assert actions[2].iou == pytest.approx(16 * 20 / (24 * 20))
    cost = cost_of(actions)
    assert cost == Cost(images=1, accepted=1, adjusted=1, relabelled=1, rejected=2, drawn=1)
    assert cost.edits == 5 and cost.proposals == 5
    assert cost + cost == Cost(2, 2, 2, 2, 4, 2)


def _project_with_image(project: Project) -> int:
    data = make_shapes_dataset(1, seed=0, out_dir=project.path / "images", size=64)
    return project.repo.add_image(data.images[0].path).id


def _add(project: Project, image_id: int, version: int, boxes: list[tuple[float, ...]], labels: list[str],
         scores: list[float]) -> None:
    dets = Detections(np.array(boxes, np.float32), np.array(scores, np.float32),
                      np.array([NAMES.index(n) for n in labels]), NAMES)
    project.repo.add_predictions(image_id, dets, model_version_id=version)


def test_correction_writes_exactly_the_ground_truth_and_records_the_actions(project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        repo = project.repo
        image_id = _project_with_image(project)
        old = repo.add_model_version("v1", "retinanet_light", NAMES[1:]).id
        new = repo.add_model_version("v2", "retinanet_light", NAMES[1:]).id
        _add(project, image_id, old, [(5, 5, 15, 15)], ["square"], [0.7])  # superseded: deleted, not counted
        _add(project, image_id, new, *_proposals())

        cost = correct_image(repo, image_id, TRUTH, new)

        assert cost == Cost(images=1, accepted=1, adjusted=1, relabelled=1, rejected=2, drawn=1)
        expected = sorted((n, tuple(float(v) for v in b)) for n, b in zip(TRUTH.labels, TRUTH.boxes.tolist(),
                                                                           strict=True))
        assert labels_in_db(repo, image_id) == expected
        anns = repo.annotations_for_image(image_id)
        assert all(a.model_version_id == new for a in anns if a.origin == Origin.MODEL)  # v1's box is gone
        by_status = sorted((a.origin, a.status) for a in anns)
        assert by_status == sorted([(Origin.MODEL, Status.ACCEPTED), (Origin.MODEL, Status.CORRECTED),
                                    (Origin.MODEL, Status.CORRECTED), (Origin.MODEL, Status.REJECTED),
                                    (Origin.MODEL, Status.REJECTED), (Origin.HUMAN, Status.ACCEPTED)])
        assert repo.get_image(image_id).reviewed


def test_pick_takes_pool_images_only_in_either_order(project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        repo = project.repo
        data = make_shapes_dataset(6, seed=1, out_dir=project.path / "images", size=64)
        ids = [repo.add_image(item.path).id for item in data.images]
        version = repo.add_model_version("v1", "retinanet_light", NAMES[1:]).id
        pool, held = ids[:4], ids[4:]
        repo.set_split(held, "test")
        # The holdout images look the most useful to the queue (boxes right at the threshold) but are not
        # in the pool: never picked. Pool image 3 has the most uncertain box, pool image 2 a confident one.
        for image_id in held:
            _add(project, image_id, version, [(0, 0, 10, 10)] * 3, ["circle"] * 3, [0.51] * 3)
        _add(project, pool[3], version, [(0, 0, 10, 10)], ["circle"], [0.55])
        _add(project, pool[2], version, [(0, 0, 10, 10)], ["circle"], [0.99])

        # Pool images 0 and 1 have no box ("unseen", 1.0), then 3 (0.9), then 2 (0.02).
        assert pick(repo, "uncertainty", pool, 3, random.Random(0)) == [pool[0], pool[1], pool[3]]
        drawn = pick(repo, "random", pool, 3, random.Random(0))
        assert len(set(drawn)) == 3 and set(drawn) <= set(pool)
        with pytest.raises(AssertionError, match="holdout"):
            pick(repo, "random", ids, 6, random.Random(0))
        with pytest.raises(ValueError, match="unknown order"):
            pick(repo, "loudest", pool, 1, random.Random(0))


@pytest.mark.slow  # three real training runs: over a minute on the shared 2-core machine
def test_both_arms_spend_the_same_budget_and_never_train_on_the_holdout(tmp_path: Path) -> None:
    cfg = bench.Config(seed_images=6, pool=6, holdout=3, rounds=1, k=3, seed_epochs=1, round_epochs=1, size=48)
    data = make_shapes_dataset(15, seed=2, out_dir=tmp_path / "images", size=48, object_size=(0.3, 0.5))
    base = bench.build_base(tmp_path / "base", data, cfg)
    assert len(base.pool) == 6 and len(base.holdout) == 3
    for order in bench.ORDERS:
        base.rounds[order] = bench.run_arm(base, tmp_path / order, order, cfg)
        assert [r.corrected for r in base.rounds[order]] == [0, 3]
        assert base.rounds[order][1].cost.images == 3
        with Project.open(tmp_path / order) as project:
            repo = project.repo
            corrected = set(repo.image_ids("reviewed")) & set(base.pool)
            assert len(corrected) == 3
            for image_id in corrected:
                truth = base.truth[image_id]
                assert labels_in_db(repo, image_id) == sorted(
                    (n, tuple(float(v) for v in b)) for n, b in zip(truth.labels, truth.boxes.tolist(), strict=True))
            for run in repo.training_runs():
                split = json.loads((run_dir(project, run.id) / "split.json").read_text())
                assert not set(split["train"] + split["val"]) & set(base.holdout)
                assert set(split["train"]) <= set(repo.image_ids("reviewed")) - set(base.holdout)
    assert base.rounds["uncertainty"][0].score == base.rounds["random"][0].score  # the same starting model


def _rounds(maps: list[float], k: int = 10) -> list[bench.Round]:
    return [bench.Round(r, r * k, EvalResult(m, m, {}, {}, 5), Cost(images=k if r else 0, drawn=2 * k if r else 0),
                        0.0) for r, m in enumerate(maps)]


def test_target_and_corrections_needed() -> None:
    base = bench.Base(Path("."), {}, [], [], 1, EvalResult(0.1, 0.1, {}, {}, 5))
    base.rounds = {"uncertainty": _rounds([0.1, 0.35, 0.5]), "random": _rounds([0.1, 0.2, 0.4])}
    target = bench.target_map(base, None)
    assert target == pytest.approx(0.1 + 0.8 * (0.4 - 0.1))  # 80% of the way to the weaker final mAP
    assert bench.needed(base.rounds["uncertainty"], target) == (10, Cost(images=10, drawn=20))
    assert bench.needed(base.rounds["random"], target) == (20, Cost(images=20, drawn=40))
    assert bench.summary("shapes", base, target)[-1] == "  -> uncertainty order needed fewer corrections"
    assert bench.needed(base.rounds["random"], 0.45) is None
    assert bench.summary("shapes", base, 0.45)[-1].endswith("fewer corrections")  # random never gets there
    assert bench.summary("shapes", base, 0.6)[-1] == "  -> neither order reached the target"
    base.rounds["random"] = _rounds([0.1, 0.5, 0.5])
    assert "did NOT" in bench.summary("shapes", base, 0.45)[-1]
    base.rounds = {"uncertainty": _rounds([0.1, 0.05, 0.08]), "random": _rounds([0.1, 0.1, 0.1])}
    assert bench.target_map(base, None) is None
    assert "no verdict" in bench.summary("shapes", base, None)[0]
