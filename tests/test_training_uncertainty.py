"""The uncertainty queue (training/uncertainty.py): each score part computed by hand, the order on a real project,
and ``detector-app queue`` (table, JSON, no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detector_app.cli.main import main
from detector_app.core.detections import Detections
from detector_app.storage import Project
from detector_app.training.uncertainty import (
    UNSEEN_SCORE,
    ModelBox,
    closeness,
    disagreement,
    rank,
    review_queue,
    score_image,
)

from .test_cli_startup import run_main


def test_closeness_to_the_threshold_by_hand() -> None:
    assert closeness(0.5) == 1.0
    assert closeness(0.9) == pytest.approx(1 - 0.4 / 0.5)  # 0.2
    assert closeness(0.2) == pytest.approx(1 - 0.3 / 0.5)  # 0.4
    assert closeness(0.0) == closeness(1.0) == 0.0
    assert closeness(0.9, threshold=0.3) == pytest.approx(1 - 0.6 / 0.7)  # the far end of [0, 1] is 1.0
    assert closeness(0.0, threshold=0.3) == pytest.approx(1 - 0.3 / 0.7)


def test_disagreement_by_hand() -> None:
    newer = [ModelBox("cat", (0, 0, 10, 10), 0.9, version_id=2),
             ModelBox("dog", (20, 20, 10, 10), 0.8, version_id=2),
             ModelBox("cat", (50, 50, 10, 10), 0.7, version_id=2)]  # no partner in the older version
    older = [ModelBox("dog", (1, 0, 10, 10), 0.6, version_id=1),  # IoU 90/110 = 0.82 with the cat: relabelled
             ModelBox("dog", (20, 20, 10, 10), 0.6, version_id=1),  # same box, same class: agreed
             ModelBox("dog", (80, 80, 5, 5), 0.6, version_id=1)]  # no partner in the newer version
    assert disagreement(newer, older) == 3  # 1 differing class + 1 + 1 unmatched
    assert disagreement(newer, newer) == 0
    assert disagreement(newer, []) == 3


def test_image_score_sums_its_parts() -> None:
    boxes = [ModelBox("cat", (0, 0, 10, 10), 0.5, version_id=3),  # closeness 1.0
             ModelBox("cat", (30, 0, 10, 10), 0.9, "accepted", version_id=3),  # reviewed: no threshold part
             ModelBox("dog", (0, 0, 10, 10), 0.2, version_id=2),  # closeness 0.4; older version, class differs
             ModelBox("dog", (60, 60, 10, 10), 0.99, version_id=1)]  # third version back: ignored by disagreement
    entry = score_image(7, boxes)
    assert entry.threshold == pytest.approx(1.0 + 0.4 + closeness(0.99))
    assert entry.disagreement == 2.0  # v3 cat vs v2 dog at IoU 1 (1 differing) + v3's second box unmatched
    assert entry.score == pytest.approx(entry.threshold + 2.0) and entry.unseen == 0 and entry.boxes == 4
    unseen = score_image(8, [])
    assert (unseen.score, unseen.unseen, unseen.boxes) == (UNSEEN_SCORE, UNSEEN_SCORE, 0)


def test_rank_orders_by_score_then_id() -> None:
    images = {1: [ModelBox("a", (0, 0, 5, 5), 0.99)],  # 0.02
              2: [],  # unseen: 1.0
              3: [ModelBox("a", (0, 0, 5, 5), 0.5), ModelBox("a", (9, 9, 5, 5), 0.6)],  # 1.0 + 0.8
              4: []}
    assert [e.image_id for e in rank(images)] == [3, 2, 4, 1]
    assert [e.image_id for e in rank(images, limit=2)] == [3, 2]


def _predict(repo: object, image_id: int, version_id: int, boxes: list[tuple[float, ...]], scores: list[float],
             labels: list[int]) -> None:
    dets = Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                      np.asarray(labels, np.int64), ("__background__", "circle", "square"))
    repo.add_predictions(image_id, dets, model_version_id=version_id)  # type: ignore[attr-defined]


@pytest.fixture
def queued_project(project_dir: Path) -> Path:
    """Four unreviewed images (from the shapes set) and a reviewed one, predictions of two versions."""
    from .synthetic_shapes import make_shapes_dataset, store_in_project

    with Project.open(project_dir) as project:
        repo = project.repo
        ids = store_in_project(repo, make_shapes_dataset(5, seed=2, out_dir=project.path / "images", size=64),
                               mark_reviewed=False)
        repo.mark_reviewed(ids[4])
        for image_id in ids[2:4]:  # their drawn boxes made them reviewed; back to the queue, no model box on them
            repo.mark_reviewed(image_id, False)
        v1 = repo.add_model_version("v1", "retinanet_light", ["circle", "square"]).id
        v2 = repo.add_model_version("v2", "retinanet_light", ["circle", "square"]).id
        _predict(repo, ids[0], v2, [(0, 0, 10, 10)], [0.95], [1])  # 1 - 0.45/0.5 = 0.1
        _predict(repo, ids[1], v1, [(0, 0, 10, 10)], [0.5], [1])  # 1.0 from v1 ...
        _predict(repo, ids[1], v2, [(0, 0, 10, 10)], [0.5], [2])  # ... 1.0 from v2, classes differ: +1 -> 3.0
        # ids[2]: no predictions -> unseen 1.0; ids[3] likewise (tie: lower id first)
    return project_dir


def test_review_queue_on_a_project(queued_project: Path) -> None:
    with Project.open(queued_project, create=False) as project:
        entries = review_queue(project.repo)
    assert [e.image_id for e in entries] == [2, 3, 4, 1]  # image 5 is reviewed: not queued
    assert [round(e.score, 3) for e in entries] == [3.0, 1.0, 1.0, 0.1]
    assert entries[0].disagreement == 1.0 and entries[0].threshold == pytest.approx(2.0)


def test_queue_command_table_json_and_no_torch(queued_project: Path, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    assert main(["queue", "--project", str(queued_project), "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["rank", "image", "score", "thresh"] and len(lines) == 3
    assert lines[1].split()[:3] == ["1", "2", "3.000"] and lines[1].endswith(".png")
    assert main(["queue", "--project", str(queued_project), "--json", "--threshold", "0.95"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_id = {r["image_id"]: r for r in rows}
    assert by_id[1]["threshold"] == pytest.approx(1.0, abs=1e-6)  # its 0.95 box sits on the threshold now
    assert by_id[2]["threshold"] == pytest.approx(2 * (1 - 0.45 / 0.95), abs=1e-6)  # two 0.5 boxes
    assert {"score", "disagreement", "unseen", "boxes", "path"} <= set(rows[0])
    assert main(["queue", "--project", str(queued_project), "--threshold", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("error: --threshold must be between 0 and 1")
    rc, heavy, output = run_main(["queue", "--project", str(queued_project)], tmp_path)
    assert rc == 0, output
    assert heavy == [], f"queue imported {heavy}"


def test_review_queue_reads_the_boxes_in_bulk(queued_project: Path) -> None:
    """The same boxes as one read per image, in one query per CHUNK images: the window ranks thousands of images."""
    from sqlalchemy import event

    from detector_app.core.labels import Origin
    from detector_app.storage.image_store import CHUNK

    with Project.open(queued_project, create=False) as project:
        repo = project.repo
        ids = repo.image_ids()
        bulk = repo.annotations_for_images(ids)
        assert bulk == {i: repo.annotations_for_image(i) for i in ids if repo.annotations_for_image(i)}
        model = repo.annotations_for_images(ids, origin=Origin.MODEL, scored=True)
        assert {i: len(v) for i, v in model.items()} == {1: 1, 2: 2}  # the drawn (human) boxes left out
        statements: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        event.listen(repo.engine, "before_cursor_execute", record)
        try:
            entries = review_queue(repo)
        finally:
            event.remove(repo.engine, "before_cursor_execute", record)
    box_reads = [s for s in statements if "FROM annotations" in s]
    assert [e.image_id for e in entries] == [2, 3, 4, 1]
    assert len(ids) < CHUNK and len(box_reads) == 1  # one query for every image's boxes, not one per image
