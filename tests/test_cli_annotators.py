"""The command line and several annotators: `stats` counts per annotator (on SQLite and PostgreSQL), and
`--annotator NAME` names who a command's edits are recorded for (a bad name is a usage error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.cli.main import main
from detector_app.storage import Project
from detector_app.storage.identity import ANNOTATOR_ENV, annotator_name

from .backends import ProjectSource
from .helpers_storage import detections, write_image


def test_stats_counts_boxes_and_reviews_per_annotator(project_source: ProjectSource, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with project_source.open() as project:
        repo = project.repo
        first, second = (repo.add_image(write_image(tmp_path / f"{n}.png", 60, 40)).id for n in range(2))
        boxes = [*repo.add_predictions(first, detections([(1, 1, 9, 9), (20, 5, 30, 15)], [1, 2])),
                 *repo.add_predictions(second, detections([(2, 2, 8, 8)], [1]))]
        repo.annotator = "alice"
        repo.set_status(boxes[0].id, "accepted")
        repo.update_bbox(boxes[1].id, (21, 5, 9, 10))  # first image: nothing left to review, by alice
        repo.annotator = "bob"
        repo.set_category(boxes[2].id, "dog")  # second image reviewed by bob
        repo.add_annotation(second, "cat", (30, 20, 5, 5))
    assert main(["stats", *project_source.cli_args]) == 0
    out = capsys.readouterr().out.splitlines()
    table = out[out.index(next(line for line in out if line.startswith("annotator"))):]
    assert [line.split() for line in table] == [["annotator", "boxes", "edited", "images", "reviewed"],
                                                ["alice", "2", "1"], ["bob", "2", "1"]]


def test_stats_without_edits_has_no_annotator_table(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Project.open(project_dir).close()
    assert main(["stats", "--project", str(project_dir)]) == 0
    assert "annotator" not in capsys.readouterr().out


def test_the_annotator_option_names_who_the_edits_are_for(project_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ANNOTATOR_ENV, "before")  # restored after the test: the option sets it for the process
    Project.open(project_dir).close()
    assert main(["queue", "--project", str(project_dir), "--annotator", " carol "]) == 0
    assert annotator_name() == "carol"
    with Project.open(project_dir) as project:
        assert project.repo.annotator == "carol"
    with pytest.raises(SystemExit) as refused:
        main(["queue", "--project", str(project_dir), "--annotator", "evil\x1b[2J"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "--annotator: an annotator name must not contain the control character \\x1b" in err
    assert annotator_name() == "carol"  # unchanged by the refused one
