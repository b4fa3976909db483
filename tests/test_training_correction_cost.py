"""Correction cost per model version, hand-computed (tests/correction_project.py lists every box), on SQLite and
PostgreSQL; the holdout scores checked against a real evaluation of the two versions (random weights, nothing
trained): the numbers ``evaluate.coco_metrics`` (what ``evaluate_model`` and ``version_scores`` compute) and
``error_analysis.coco_curves`` give on the same predictions, not numbers written here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from detector_app.core.provenance import Action
from detector_app.storage import Project
from detector_app.storage.correction_rows import BoxRow
from detector_app.training import error_analysis
from detector_app.training.correction_cost import correction_costs, image_versions
from detector_app.training.correction_report import NO_HOLDOUT, NO_REVIEWS, NO_VERSIONS, build_report
from detector_app.training.error_analysis import coco_curves
from detector_app.training.evaluate import coco_metrics, predict_samples
from detector_app.training.holdout_scores import CACHE_KEY, eval_size
from detector_app.training.model_setup import pick_device
from detector_app.training.plan import holdout_samples, reviewed_samples
from detector_app.training.versions import load_version

from . import correction_project
from .backends import ProjectSource

# By hand, from the boxes in tests/correction_project.py:
# v1: A (accept, adjust IoU 1/3, reject, draw), B (accept, relabel), C (accept, accept, adjust IoU 2/3, draw, draw)
V1 = {"images": 3, Action.ACCEPTED: 4, Action.ADJUSTED: 2, Action.RELABELLED: 1, Action.REJECTED: 1,
      Action.DRAWN: 3}
V1_PROPOSALS = 4 + 2 + 1 + 1  # drawn boxes are no proposals
V1_ACCEPTANCE = 4 / 8
V1_EDITS_PER_IMAGE = (2 + 1 + 1 + 3) / 3  # every action but an accept
V1_MEAN_IOU = (1 / 3 + 2 / 3) / 2
V1_MEDIAN_S = 40.0  # per image: A 40, B 10 + 20 = 30, C 90
# v2: D (3 accepts), E (accept, reject, draw), G (2 accepts of v2 + 1 of v1: v2's image); F pending, not counted
V2 = {"images": 3, Action.ACCEPTED: 3 + 1 + 3, Action.ADJUSTED: 0, Action.RELABELLED: 0, Action.REJECTED: 1,
      Action.DRAWN: 1}
V2_ACCEPTANCE = 7 / 8
V2_EDITS_PER_IMAGE = (1 + 1) / 3
V2_MEDIAN_S = 12.0  # D 12, E 20, G 8


def test_cost_per_version_by_hand(project_source: ProjectSource) -> None:
    with project_source.open() as project:
        ids = correction_project.build(project, weights=False)
        costs = correction_costs(project.repo)
    assert list(costs) == [None, ids["v1"], ids["v2"]]
    v1, v2, other = costs[ids["v1"]], costs[ids["v2"]], costs[None]
    for cost, expected in ((v1, V1), (v2, V2)):
        assert cost.images == expected["images"]
        assert {a: cost.count(a) for a in Action if a != Action.PENDING} == {
            a: n for a, n in expected.items() if a != "images"}
        assert cost.count(Action.PENDING) == 0  # F, the unreviewed image, is not counted
    assert v1.proposals == V1_PROPOSALS
    assert v1.acceptance_rate == pytest.approx(V1_ACCEPTANCE)
    assert v1.edits_per_image == pytest.approx(V1_EDITS_PER_IMAGE)
    assert v1.per_image(Action.ADJUSTED) == pytest.approx(2 / 3)
    assert v1.per_image(Action.RELABELLED) == pytest.approx(1 / 3)
    assert v1.per_image(Action.REJECTED) == pytest.approx(1 / 3)
    assert v1.per_image(Action.DRAWN) == pytest.approx(1.0)
    assert v1.mean_adjusted_iou == pytest.approx(V1_MEAN_IOU)
    assert v1.median_seconds == V1_MEDIAN_S and len(v1.seconds) == 3
    assert v2.acceptance_rate == pytest.approx(V2_ACCEPTANCE)
    assert v2.edits_per_image == pytest.approx(V2_EDITS_PER_IMAGE)
    assert v2.mean_adjusted_iou is None  # nothing adjusted
    assert v2.median_seconds == V2_MEDIAN_S
    # The pretrained model's image I: one accept, no time (H's 500 s without a version is no model's).
    assert (other.images, other.count(Action.ACCEPTED), other.acceptance_rate, other.seconds) == (1, 1, 1.0, ())


def test_rows_are_read_with_one_query_per_table(project_source: ProjectSource) -> None:
    with project_source.open() as project:
        correction_project.build(project, weights=False)
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
        event.listen(project.repo.engine, "before_cursor_execute", listener)
        try:
            correction_costs(project.repo)
        finally:
            event.remove(project.repo.engine, "before_cursor_execute", listener)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, reads  # the boxes, the review times


def test_image_belongs_to_the_version_of_most_of_its_proposals() -> None:
    def box(image: int, version: int | None, origin: str = "model") -> BoxRow:
        return BoxRow(image, origin, "accepted", (0, 0, 1, 1), 1, version, None, None)

    rows = [box(1, 1), box(1, 2), box(1, 2), box(2, 1), box(2, 2), box(3, None), box(3, None), box(3, 1),
            box(4, 1, "human"), box(4, None)]
    # 1: two of v2 against one; 2: a tie goes to the newest; 3: two of no version; 4: the drawn box has no vote
    assert image_versions(rows) == {1: 2, 2: 2, 3: None, 4: None}


def test_report_scores_equal_a_real_evaluation_and_are_computed_once(tmp_path_factory: pytest.TempPathFactory,
                                                                      tmp_path: Path) -> None:
    # The copy's versions were scored by build_report (a real run of each on the holdout) when the project was
    # built; here the same numbers are computed independently and compared.
    ids = correction_project.project_copy(tmp_path_factory, tmp_path / "project")
    with Project.open(tmp_path / "project", create=False) as project:
        report = build_report(project, evaluate=False)
        rows = {r.version_id: r for r in report.rows}
        assert report.holdout_images == 2 and report.notes == ()
        device = pick_device("cpu")
        samples = holdout_samples(reviewed_samples(project))  # the holdout as version_scores reads it
        assert [s.image_id for s in samples] == [s.image_id for s in error_analysis.holdout_samples(project)]
        for key in ("v1", "v2"):
            version = project.repo.get_model_version(ids[key])
            loaded = load_version(project, ids[key])
            predictions = predict_samples(loaded.model, loaded.class_names, samples, eval_size(version), device)
            expected = coco_metrics(samples, predictions, ["cat", "dog"])  # what evaluate_model computes
            _, sizes = coco_curves(samples, predictions, ["cat", "dog"])
            scores = rows[ids[key]].holdout
            assert scores is not None
            assert (scores.map, scores.ap50) == (pytest.approx(expected.map), pytest.approx(expected.ap50))
            assert (scores.ap_small, scores.ap_medium, scores.ap_large) == (
                pytest.approx(sizes["small"]), pytest.approx(sizes["medium"]), sizes["large"])
            assert scores.images == 2 and version.metrics[CACHE_KEY]["map"] == scores.map
        assert rows[ids["v1"]].holdout.map != rows[ids["v2"]].holdout.map  # two different models, both scored
        assert rows[ids["v1"]].holdout.ap50 > 0 and rows[None].holdout is None
        # Computed once: the report with models allowed to run keeps the same scores (read back, not re-scored).
        again = build_report(project, device="cpu")
        assert [r.holdout for r in again.rows] == [r.holdout for r in report.rows]
        # A label changed on the holdout: the cached scores are no longer for this holdout.
        box = project.repo.annotations_for_image(ids["holdout0"])[0]
        project.repo.update_bbox(box.id, (12.0, 12.0, 50.0, 50.0))
        stale = {r.version_id: r for r in build_report(project, evaluate=False).rows}
        assert stale[ids["v1"]].holdout is None and "not scored on this holdout" in stale[ids["v1"]].holdout_note


def test_report_says_what_is_missing(project_dir) -> None:
    with Project.open(project_dir) as project:
        assert build_report(project).notes == (NO_VERSIONS,)
        project.repo.add_model_version("v1", "retinanet_light", ["cat"])
        report = build_report(project)
        assert report.notes == (NO_REVIEWS, NO_HOLDOUT)
        assert len(report.rows) == 1 and report.rows[0].cost.images == 0 and report.rows[0].holdout is None
