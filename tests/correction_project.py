"""A project with two model versions whose predictions were reviewed, for the correction report tests.

Boxes and review times are written as rows (``storage.models``) with the statuses and kept proposals a review leaves
behind, so every kind of correction is there in known numbers. The two versions are real weight files: random
RetinaNet-light weights whose classification bias is raised (0 for v1, -1 for v2) so that they propose boxes on the
holdout and score non-zero, different APs there; nothing is trained.

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

from detector_app.core.labels import Origin, Status
from detector_app.detection.presets import build_model
from detector_app.storage import Project
from detector_app.storage.models import Annotation, Image, ReviewTime
from detector_app.training.correction_report import build_report
from detector_app.training.versions import register_version

from .helpers_storage import write_image

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
    v1, v2, cat, dog = ids["v1"], ids["v2"], ids["cat"], ids["dog"]

    def model_box(image: str, status: str, version: int | None, box: tuple[float, ...] = P, category: int = cat,
                  proposal: tuple[float, ...] = P) -> Annotation:
        x, y, w, h = box
        px, py, pw, ph = proposal
        return Annotation(image_id=ids[image], category_id=category, x=x, y=y, w=w, h=h, score=0.8,
                          origin=Origin.MODEL.value, status=status, model_version_id=version, proposal_x=px,
                          proposal_y=py, proposal_w=pw, proposal_h=ph, proposal_category_id=cat, proposal_score=0.8)

    def drawn(image: str) -> Annotation:
        return Annotation(image_id=ids[image], category_id=dog, x=30.0, y=30.0, w=10.0, h=10.0,
                          origin=Origin.HUMAN.value, status=Status.ACCEPTED.value)

    acc, cor, rej = Status.ACCEPTED.value, Status.CORRECTED.value, Status.REJECTED.value
    rows = [
        model_box("A", acc, v1), model_box("A", cor, v1, (20.0, 10.0, 20.0, 20.0)), model_box("A", rej, v1),
        drawn("A"),
        model_box("B", acc, v1), model_box("B", cor, v1, category=dog),
        model_box("C", acc, v1), model_box("C", acc, v1), model_box("C", cor, v1, (10.0, 10.0, 20.0, 30.0)),
        drawn("C"), drawn("C"),
        *(model_box("D", acc, v2) for _ in range(3)),
        model_box("E", acc, v2), model_box("E", rej, v2), drawn("E"),
        model_box("G", acc, v2), model_box("G", acc, v2), model_box("G", acc, v1),
        model_box("F", Status.PREDICTED.value, v2),
        model_box("I", acc, None),
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [("A", v1, 40.0), ("B", v1, 10.0), ("B", v1, 20.0), ("C", v1, 90.0), ("D", v2, 12.0), ("E", v2, 20.0),
             ("G", v2, 8.0), ("H", None, 500.0)]
    with repo.transaction() as s:
        s.add_all(rows)
        s.add_all(ReviewTime(image_id=ids[i], model_version_id=v, annotator="ann", started_at=start,
                             finished_at=start + timedelta(seconds=sec), seconds=sec) for i, v, sec in times)
        for name in "ABCDEGHI":
            s.get(Image, ids[name]).reviewed_at = start
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
