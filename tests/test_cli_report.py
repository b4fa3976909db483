"""``detector-app report`` through ``main``: the table and ``--json`` on the two-version project of
tests/correction_project.py (hand-computed counts; holdout scores as the library function gives them, computed once
when the project was built and read back from the versions), empty projects and a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector_app.cli.main import main
from detector_app.storage import Project
from detector_app.training.correction_report import COLUMNS, NO_HOLDOUT, NO_REVIEWS, NO_VERSIONS, build_report

from . import correction_project
from .backends import ProjectSource


@pytest.fixture
def two_versions(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> tuple[Path, dict[str, int]]:
    folder = tmp_path / "project"
    return folder, correction_project.project_copy(tmp_path_factory, folder)


def _library_rows(folder: Path) -> dict[int | None, dict]:
    with Project.open(folder, create=False) as project:
        return {r["id"]: r for r in build_report(project, evaluate=False).to_dict()["versions"]}


def test_report_table(two_versions: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = two_versions
    assert main(["report", "--project", str(folder), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [h for h, _, _ in COLUMNS]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    library = _library_rows(folder)
    v1, v2 = library[ids["v1"]]["holdout"], library[ids["v2"]]["holdout"]
    # version, images, accept, adj, relab, rej, miss, edits, adj IoU, s/img (by hand: see the library test), then
    # mAP, AP50, APs, APm, APl as the library computed them (APl: no box over 96² px on the holdout).
    assert rows["v1"] == ["v1", "3", "50%", "0.67", "0.33", "0.33", "1.00", "2.33", "0.50", "40.0",
                          f"{v1['map']:.3f}", f"{v1['ap50']:.3f}", f"{v1['ap_small']:.3f}", f"{v1['ap_medium']:.3f}",
                          "-"]
    assert rows["v2"] == ["v2", "3", "88%", "0.00", "0.00", "0.33", "0.33", "0.67", "-", "12.0",
                          f"{v2['map']:.3f}", f"{v2['ap50']:.3f}", f"{v2['ap_small']:.3f}", f"{v2['ap_medium']:.3f}",
                          "-"]
    assert rows["(no"][:4] == ["(no", "version)", "1", "100%"]
    assert lines[4] == "holdout: 2 reviewed images" and len(lines) == 5


def test_report_json(two_versions: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = two_versions
    assert main(["report", "--project", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["holdout_images"] == 2 and data["notes"] == []
    versions = {v["id"]: v for v in data["versions"]}
    assert list(versions) == [None, ids["v1"], ids["v2"]]
    v1, v2 = versions[ids["v1"]], versions[ids["v2"]]
    assert {k: v1[k] for k in ("name", "images_reviewed", "proposals", "accepted", "adjusted", "relabelled",
                               "rejected", "missed", "median_seconds_per_image", "timed_images")} == {
        "name": "v1", "images_reviewed": 3, "proposals": 8, "accepted": 4, "adjusted": 2, "relabelled": 1,
        "rejected": 1, "missed": 3, "median_seconds_per_image": 40.0, "timed_images": 3}
    assert v1["acceptance_rate"] == pytest.approx(4 / 8) and v1["edits_per_image"] == pytest.approx(7 / 3)
    assert v1["mean_adjusted_iou"] == pytest.approx(0.5) and v1["missed_per_image"] == pytest.approx(1.0)
    assert v2["acceptance_rate"] == pytest.approx(7 / 8) and v2["edits_per_image"] == pytest.approx(2 / 3)
    assert v2["mean_adjusted_iou"] is None and v2["median_seconds_per_image"] == 12.0
    assert versions == _library_rows(folder)  # the holdout scores too, as the library function gives them
    assert set(v1["holdout"]) == {"map", "ap50", "ap_small", "ap_medium", "ap_large", "images"}


def test_report_json_on_either_backend(project_source: ProjectSource, capsys: pytest.CaptureFixture[str]) -> None:
    with project_source.open() as project:
        ids = correction_project.build(project, weights=False)  # versions without weight files: nothing to score
    assert main(["report", *project_source.cli_args, "--json"]) == 0
    versions = {v["id"]: v for v in json.loads(capsys.readouterr().out)["versions"]}
    assert [versions[ids[k]]["edits_per_image"] for k in ("v1", "v2")] == [pytest.approx(7 / 3),
                                                                           pytest.approx(2 / 3)]
    assert versions[ids["v1"]]["holdout"] is None and "no weight file" in versions[ids["v1"]]["holdout_note"]


def test_report_of_empty_projects_says_what_to_do(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Project.open(project_dir).close()
    assert main(["report", "--project", str(project_dir)]) == 0
    assert capsys.readouterr().out.strip() == NO_VERSIONS
    with Project.open(project_dir) as project:
        project.repo.add_model_version("v1", "retinanet_light", ["cat"])
    assert main(["report", "--project", str(project_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["v1", "0", "-"] and out[-2:] == [NO_REVIEWS, NO_HOLDOUT]


def test_report_of_a_bad_project_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--project", str(tmp_path / "nowhere")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ") and captured.err.count("\n") == 1
