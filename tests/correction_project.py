"""A project with two model versions whose predictions were reviewed, for the correction report tests.

Boxes and review times go through the repository as a review makes them (predictions stored with their proposal,
then accepted, moved, relabelled, rejected or drawn; review times added), so every kind of correction is there in
known numbers. The two versions are real weight files: random RetinaNet-light weights whose classification bias is
raised (0 for v1, -1 for v2) so that they propose boxes on the holdout and score non-zero, different APs there;
nothing is trained.

The cost images (64 x 64), proposals all 20 x 20 at (10, 10) unless said otherwise:

v1 (images A, B, C; review seconds A 40, B 10 + 20 in two sittings, C 90):
  A: accepted; adjusted to (20, 10, 20, 20) (IoU 1/3); rejected; one drawn box
  B: accepted; relabelled cat -> dog in place
  C: accepted; accepted; adjusted to (10, 10, 20, 30) (IoU 400 / 600 = 2/3); two drawn boxes
v2 (images D, E, G; review seconds D 12, E 20, G 8):
  D: three accepted
  E: accepted; rejected; one drawn box
  G: two accepted from v2 and one accepted from v1 (the image is v2's: most of its proposals are)
  F: unreviewed, one pending v2 proposal (not counted); a review time of 500 s without version on H (not counted)
(no version) (image I; no review time): one accepted proposal of a model outside the project's versions
Holdout (96 x 96, split test, reviewed, human labels only): two images, a 60 x 60 cat and a 20 x 20 dog each.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch

from detector_app.core.labels import Status
from detector_app.detection.presets import build_model
from detector_app.storage import Project
from detector_app.training.correction_report import build_report
from detector_app.training.versions import register_version

from .helpers_storage import detections, write_image

PRESET = "retinanet_light"
CLASSES = ("__background__", "cat", "dog")
SIZE = 96
P = (10.0, 10.0, 20.0, 20.0)  # the proposal of every cost box unless said otherwise


def _version(project: Project, name: str, bias: float) -> int:
    torch.manual_seed(len(name) + int(bias * 10))
    model = build_model(PRESET, len(CLASSES))
    with torch.no_grad():
        model.head.classification_head.cls_logits.bias.fill_(bias)
    return register_version(project, model, preset=PRESET, class_names=CLASSES, parent_id=None,
                            settings={"size": SIZE}, metrics={}, name=name).id


def build(project: Project, weights: bool = True) -> dict[str, int]:
    """Fill ``project`` as the module docstring says; returns the ids by name (v1, v2, cat, dog, images).
    ``weights`` False: the versions are rows without a weight file (for tests of the counts only)."""
    repo, root = project.repo, project.path
    if weights:
        ids = {"v1": _version(project, "v1", 0.0), "v2": _version(project, "v2", -1.0)}
    else:
        ids = {name: repo.add_model_version(name, PRESET, CLASSES[1:]).id for name in ("v1", "v2")}
    ids["cat"], ids["dog"] = repo.ensure_category("cat").id, repo.ensure_category("dog").id
    for n, name in enumerate("ABCDEFGHI"):
        ids[name] = repo.add_image(write_image(root / "images" / f"{name}.png", 64, 64, color=n * 20)).id
    for n in range(2):
        image = repo.add_image(write_image(root / "images" / f"holdout{n}.png", 96, 96, color=200 + n)).id
        repo.add_annotation(image, "cat", (10.0 + n, 10.0, 60.0, 60.0))
        repo.add_annotation(image, "dog", (70.0, 70.0 - n, 20.0, 20.0))
        repo.mark_reviewed(image)
        ids[f"holdout{n}"] = image
    repo.set_split([ids["holdout0"], ids["holdout1"]], "test")
    v1, v2 = ids["v1"], ids["v2"]
    x, y, w, h = P

    def propose(image: str, version: int | None, count: int) -> list[int]:
        dets = detections([(x, y, x + w, y + h)] * count, [1] * count, [0.8] * count, CLASSES)  # cats
        return [a.id for a in repo.add_predictions(ids[image], dets, model_version_id=version)]

    def accept(*boxes: int) -> None:
        for box in boxes:
            repo.set_status(box, Status.ACCEPTED)

    def draw(image: str, count: int = 1) -> None:
        for _ in range(count):
            repo.add_annotation(ids[image], "dog", (30.0, 30.0, 10.0, 10.0))

    a = propose("A", v1, 3)
    accept(a[0])
    repo.update_bbox(a[1], (20.0, 10.0, 20.0, 20.0))
    repo.set_status(a[2], Status.REJECTED)
    draw("A")
    b = propose("B", v1, 2)
    accept(b[0])
    repo.set_category(b[1], "dog")
    c = propose("C", v1, 3)
    accept(c[0], c[1])
    repo.update_bbox(c[2], (10.0, 10.0, 20.0, 30.0))
    draw("C", 2)
    accept(*propose("D", v2, 3))
    e = propose("E", v2, 2)
    accept(e[0])
    repo.set_status(e[1], Status.REJECTED)
    draw("E")
    accept(*propose("G", v1, 1))
    accept(*propose("G", v2, 2))
    propose("F", v2, 1)
    accept(*propose("I", None, 1))
    for name in "ABCDEGHI":
        repo.mark_reviewed(ids[name])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for image, version, seconds in (("A", v1, 40.0), ("B", v1, 10.0), ("B", v1, 20.0), ("C", v1, 90.0),
                                    ("D", v2, 12.0), ("E", v2, 20.0), ("G", v2, 8.0), ("H", None, 500.0)):
        repo.add_review_time(ids[image], version, seconds, start, start + timedelta(seconds=seconds), "ann")
    return ids



def project_copy(tmp_path_factory: pytest.TempPathFactory, dest: Path) -> dict[str, int]:
    """A copy of the project at ``dest``, its versions already scored on the holdout (the report's cache in
    ``metrics``): built and scored once per test session, then copied, since scoring runs two models."""
    template = tmp_path_factory.getbasetemp() / "correction-report-project"
    if not (template / "ids.json").is_file():
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir()
        with Project.open(template) as project:
            ids = build(project)
            build_report(project, device="cpu")
        (template / "ids.json").write_text(json.dumps(ids))
    shutil.copytree(template, dest, dirs_exist_ok=True)
    return json.loads((dest / "ids.json").read_text())
