"""`detector-app import coco`, `export coco` and `stats` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detector_app.cli.export_cmd import ScopeError, parse_scope
from detector_app.cli.main import main
from detector_app.core.labels import LabelSet
from detector_app.storage import Project
from detector_app.transfer.exporting import export_labels
from detector_app.transfer.formats import (
    BUILT_IN,
    UnknownFormatError,
    find_format,
    format_names,
    register_codec,
)

from .backends import ProjectSource
from .helpers_storage import small_dataset


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector_app", *args], capture_output=True, text=True,
                          timeout=300)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The console script's code path, in-process (a subprocess per call costs seconds of imports)."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_export_and_stats_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            project_source: ProjectSource) -> None:
    """On a project folder and on a PostgreSQL team project (--project URL --media-root FOLDER)."""
    json_path, images_dir = small_dataset(tmp_path / "src", n_images=3, boxes_per_image=2)
    project = project_source.cli_args

    # Once through the real console entry point.
    imported = cli("import", "coco", str(json_path), "--images", str(images_dir), *project)
    assert imported.returncode == 0, imported.stderr
    assert "imported 6 boxes on 3 images" in imported.stdout

    code, out, err = run_main(capsys, "export", "coco", str(tmp_path / "out"), "--copy-images", *project)
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "instances.json").read_text())
    assert len(data["images"]) == 3 and len(data["annotations"]) == 6
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == ["img_0.png", "img_1.png",
                                                                               "img_2.png"]

    code, out, err = run_main(capsys, "stats", *project)
    assert code == 0, err
    assert "images: 3 (3 reviewed, 0 unreviewed)" in out
    cat_line = next(line for line in out.splitlines() if line.startswith("cat "))
    assert cat_line.split() == ["cat", "0", "3", "0", "0"]


def test_64_bit_coco_ids_import_and_export_on_both_backends(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], project_source: ProjectSource) -> None:
    """Real COCO annotation ids pass 2**31 (COCO-tiny's crowd boxes: 900,100,087,038). PostgreSQL's INTEGER
    refused them until revision 0007 made ``coco_id`` BIGINT there; every id comes back on export."""
    json_path, images_dir = small_dataset(tmp_path / "src", n_images=2)
    data = json.loads(json_path.read_text())
    image_ids = {data["images"][0]["id"]: 3_000_000_000}
    category_ids = {data["categories"][0]["id"]: 2**63 - 1}
    data["images"][0]["id"] = 3_000_000_000
    data["categories"][0]["id"] = 2**63 - 1
    for a in data["annotations"]:
        a["image_id"] = image_ids.get(a["image_id"], a["image_id"])
        a["category_id"] = category_ids.get(a["category_id"], a["category_id"])
    data["annotations"][0]["id"] = 900_100_087_038
    json_path.write_text(json.dumps(data))
    project = project_source.cli_args
    code, out, err = run_main(capsys, "import", "coco", str(json_path), "--images", str(images_dir), *project)
    assert code == 0, err
    code, out, err = run_main(capsys, "export", "coco", str(tmp_path / "out"), *project)
    assert code == 0, err
    exported = json.loads((tmp_path / "out" / "instances.json").read_text())
    assert 3_000_000_000 in {i["id"] for i in exported["images"]}
    assert 900_100_087_038 in {a["id"] for a in exported["annotations"]}
    assert 2**63 - 1 in {c["id"] for c in exported["categories"]}


@pytest.mark.parametrize("scope", ["all", "1,2"])
def test_export_scope_option(tmp_path: Path, scope: str, capsys: pytest.CaptureFixture[str]) -> None:
    json_path, images_dir = small_dataset(tmp_path / "src", n_images=2)
    project = tmp_path / "proj"
    assert main(["import", "coco", str(json_path), "--images", str(images_dir), "--project", str(project)]) == 0
    with Project.open(project) as p:
        ids = ",".join(map(str, p.repo.image_ids()))
    scope = ids if scope != "all" else scope
    assert main(["export", "coco", str(tmp_path / "out"), "--scope", scope, "--project", str(project)]) == 0
    assert len(json.loads((tmp_path / "out" / "instances.json").read_text())["images"]) == 2
    assert "wrote" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    json_path, images_dir = small_dataset(tmp_path / "src")
    data = json.loads(json_path.read_text())
    data["annotations"][0]["bbox"] = [0, 0, -1, 5]
    json_path.write_text(json.dumps(data))
    project = tmp_path / "proj"
    cases = [
        ("import", "coco", str(json_path), "--images", str(images_dir), "--project", str(project)),
        ("import", "coco", str(tmp_path / "missing.json"), "--images", str(images_dir), "--project", str(project)),
        ("import", "coco", str(json_path), "--project", str(project)),
        ("import", "yolo", str(json_path), "--project", str(project)),
        ("export", "coco", str(tmp_path / "out"), "--scope", "everything", "--project", str(project)),
        ("export", "coco", str(tmp_path / "out"), "--project", str(tmp_path / "not-a-project")),
        ("stats", "--project", str(tmp_path / "not-a-project")),
    ]
    for args in cases:
        code, _, err = run_main(capsys, *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, err)
    _, _, err = run_main(capsys, *cases[0])
    assert "annotation id 500 bbox [0, 0, -1, 5] must have positive width and height" in err
    real = cli(*cases[0])  # and through the console script: exit status 2, one line, no traceback
    assert real.returncode == 2 and real.stderr.count("\n") == 1 and real.stderr.startswith("error: ")
    with Project.open(project) as p:
        assert p.repo.count_images() == 0  # the bad import wrote nothing


def test_parse_scope() -> None:
    assert parse_scope("reviewed") == "reviewed" and parse_scope("all") == "all"
    assert parse_scope("3,5, 8") == [3, 5, 8]
    with pytest.raises(ScopeError):
        parse_scope("3,x")


def test_exporters_are_pluggable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A format registered in code is found by name, and `detector-app export NAME` uses it."""
    class Names:
        name, description = "names", "class names"

        def write(self, labels: LabelSet, out: Path, copy_images: bool) -> Path:
            target = out / "names.txt"
            target.write_text("\n".join(labels.category_names) + f"\n{len(labels.images)}\n")
            return target

        def can_read(self) -> bool:
            return False

    monkeypatch.setitem(BUILT_IN, "names", Names())
    with pytest.raises(ValueError, match="already registered"):
        register_codec(Names())
    with Project.open(tmp_path / "proj") as project:
        project.repo.ensure_category("cat")
    assert main(["export", "NAMES", str(tmp_path / "out"), "--scope", "all", "--project", str(tmp_path / "proj")]) == 0
    assert (tmp_path / "out" / "names.txt").read_text() == "cat\n0\n"
    with pytest.raises(UnknownFormatError, match=r"no export format called 'pascal' \(available: .*coco.*names"):
        find_format("pascal")
    assert "names" in format_names() and "coco" in format_names() and "names" not in format_names("import")
    # The GUI calls the export with keyword options.
    with Project.open(tmp_path / "proj") as project:
        assert export_labels(project.repo, "names", tmp_path / "gui", scope="all").read_text() == "cat\n0\n"
