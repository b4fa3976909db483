"""Exports never lose a file of the user's (issue 11: items 1, 6, 8, 9, 10).

* a user file inside the export target survives every export path (COCO, YOLO, VOC, the GUI);
* a folder that is not a previous export is refused with one ``error:`` line, exit 2, nothing touched;
* SIGKILL at random moments (and at every file system step of a publish): the previous export intact or the
  new one complete, never a mix, never a staging folder left after the next run;
* files and folders follow the umask; a read-only folder is reported as such, not blamed on a plugin;
* rows of an edited database (a path outside the project, an infinite width or box) are refused by id.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detector_app.formats import target
from detector_app.formats.target import MANIFEST, ExportTargetError
from detector_app.storage import Project
from detector_app.transfer.exporting import export_coco

from .hardening_export_helpers import (
    SCOPE_A,
    SCOPE_B,
    add_user_files,
    assert_one_error,
    assert_user_files,
    edit_db,
    leftovers,
    make_project,
    run_cli,
    tree,
)
from .helpers_storage import write_image


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")

# --- a user file inside the target survives every export path -----------------------------------------


@pytest.mark.parametrize(("fmt", "images_dir"), [("coco", "images"), ("yolo", "images"), ("voc", "JPEGImages")])
def test_user_files_survive_every_format(fmt: str, images_dir: str, project: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    out = tmp_path / "out"
    args = ("export", fmt, str(out), "--copy-images", "--project", str(project))
    assert run_cli(capsys, *args, "--scope", SCOPE_A)[0] == 0
    first = tree(out)
    user = add_user_files(out)
    (out / images_dir).mkdir(exist_ok=True)
    (out / images_dir / "mine.jpg").write_bytes(b"the user's own picture")
    user[f"{images_dir}/mine.jpg"] = b"the user's own picture"

    # Replacing the previous export (a larger scope): its files change, the user's do not.
    assert run_cli(capsys, *args, "--scope", SCOPE_B)[0] == 0
    assert_user_files(out, user)
    after = tree(out)
    assert set(after) - set(user) - set(first) and not leftovers(out)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == fmt and not {f["path"] for f in manifest["files"]} & set(user)

    # And back to the smaller scope: files only the larger export wrote go, the user's stay.
    assert run_cli(capsys, *args, "--scope", SCOPE_A)[0] == 0
    assert_user_files(out, user)
    assert {k for k in tree(out) if k != MANIFEST} == {k for k in first if k != MANIFEST} | set(user)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_a_folder_that_is_not_an_export_is_refused(fmt: str, project: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    """The folder a dataset was imported from: its JSON and images must not be touched."""
    dataset = tmp_path / "dataset"
    write_image(dataset / "images" / "img_000.png", 24, 16)
    (dataset / "instances.json").write_text('{"images": []}')
    before = tree(dataset)
    code, _, err = run_cli(capsys, "export", fmt, str(dataset), "--copy-images", "--project", str(project))
    assert_one_error(code, err, str(dataset), "not empty", "nothing was written")
    assert "plugin" not in err
    assert tree(dataset) == before and sorted(p.name for p in dataset.iterdir()) == ["images", "instances.json"]


def test_a_name_taken_by_a_user_file_refuses_the_export(project: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--copy-images", "--scope", SCOPE_A,
                   "--project", str(project))[0] == 0
    # The larger export would write images/img_007.png: the user put a file of that name there meanwhile.
    (out / "images" / "img_007.png").write_bytes(b"the user's")
    before = tree(out)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--copy-images", "--scope", SCOPE_B,
                           "--project", str(project))
    assert_one_error(code, err, "images/img_007.png", "nothing was written")
    assert tree(out) == before


def test_a_changed_export_file_is_not_overwritten(project: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--project", str(project))[0] == 0
    (out / "instances.json").write_text('{"edited": "by the user"}')
    before = tree(out)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project))
    assert_one_error(code, err, "instances.json", "changed since")
    assert tree(out) == before


def test_an_edited_manifest_refuses_the_folder(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An edited manifest no longer carries the installation's signature: the folder holds no export of ours."""
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--project", str(project))[0] == 0
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append({"path": "../project/project.db", "size": 1, "mtime_ns": 1})
    (out / MANIFEST).write_text(json.dumps(manifest))
    before, project_before = tree(out), tree(project)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project))
    assert_one_error(code, err, "not empty", MANIFEST, "not written by detector-app", "nothing was written")
    assert tree(out) == before and tree(project) == project_before


def test_a_signed_but_damaged_manifest_refuses_the_folder(project: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    from detector_app.formats.target_manifest import signed

    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--project", str(project))[0] == 0
    manifest = json.loads((out / MANIFEST).read_text())
    manifest.pop("signature")
    manifest["files"].append({"path": "../project/project.db", "size": 1, "mtime_ns": 1})
    (out / MANIFEST).write_text(json.dumps(signed("manifest", manifest)))
    before, project_before = tree(out), tree(project)
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--project", str(project))
    assert_one_error(code, err, "manifest", "damaged")
    assert tree(out) == before and tree(project) == project_before


def test_gui_export_asks_before_replacing_and_keeps_user_files(qtbot: Any, project: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from detector_app.ui.main_window import MainWindow

    from .ui_helpers import make_settings

    out, foreign = tmp_path / "out", tmp_path / "foreign"
    chosen = [out]
    answers: list[QMessageBox.StandardButton] = []
    asked: list[str] = []
    errors: list[str] = []

    def export() -> None:
        """File › Export labels… with the real dialog: coco, everything, images copied, into ``chosen[0]``."""
        window.export_labels()
        dialog = window.projects.export_dialog
        dialog.format.setCurrentText("coco")
        dialog.scope.setCurrentIndex(dialog.scope.findData("all"))
        dialog.copy_images.setChecked(True)
        dialog.folder.setText(str(chosen[0]))
        dialog.export_button.click()

    def question(parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    window = MainWindow(make_settings(tmp_path), project_path=project)
    qtbot.addWidget(window)
    monkeypatch.setattr(window.messages, "show_error", errors.append)

    export()  # a new folder: no question
    assert asked == [] and errors == [] and (out / "instances.json").is_file()
    user = add_user_files(out)
    exported = tree(out)

    answers.append(QMessageBox.StandardButton.Cancel)
    export()  # a previous export: asked; Cancel leaves everything as it was
    assert len(asked) == 1 and "coco export" in asked[0] and tree(out) == exported

    answers.append(QMessageBox.StandardButton.Yes)
    export()
    assert len(asked) == 2 and errors == []
    assert_user_files(out, user)
    assert json.loads((out / MANIFEST).read_text())["export_id"] != json.loads(exported[MANIFEST])["export_id"]

    foreign.mkdir()
    (foreign / "photo.jpg").write_bytes(b"holiday")
    chosen[0] = foreign
    export()  # not an export: refused in the dialog before anything, no question
    dialog = window.projects.export_dialog
    assert len(asked) == 2 and not dialog.export_button.isEnabled() and "not empty" in dialog.note.text()
    assert tree(foreign) == {"photo.jpg": b"holiday"}
    window.close()


# --- modes, read-only folders ----------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_exported_files_follow_the_umask(mask: int, project: Path, tmp_path: Path, fresh_plugins: None) -> None:
    from detector_app.transfer.exporting import export_labels

    old = os.umask(mask)
    try:
        with Project.open(project) as p:
            export_coco(p.repo, tmp_path / "coco" / "new", copy_images=True)
            export_labels(p.repo, "yolo", tmp_path / "yolo", copy_images=True)
    finally:
        os.umask(old)
    for root in (tmp_path / "coco", tmp_path / "yolo"):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o777 if path.is_dir() else 0o666) & ~mask, (path, oct(mode))


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Any]:
    """Makes a folder unwritable: chmod for a user, ``chattr +i`` for root (who ignores modes)."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() != 0:
            folder.chmod(0o555)
        elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)],
                                                              capture_output=True).returncode != 0:
            pytest.skip("running as root and chattr +i is not available: no way to make a folder read-only")
        made.append(folder)

    yield make
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_a_read_only_folder_is_reported_as_such(fmt: str, project: Path, tmp_path: Path, read_only: Any,
                                                capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    out = tmp_path / "out"
    args = ("export", fmt, str(out), "--project", str(project))
    assert run_cli(capsys, *args, "--scope", SCOPE_A)[0] == 0
    before = tree(out)
    read_only(out)
    code, _, err = run_cli(capsys, *args, "--scope", SCOPE_B)
    line = assert_one_error(code, err, f"cannot write to the export folder {out}")
    assert "plugin" not in line and "failed while exporting" not in line
    assert tree(out) == before
    # A new folder inside a read-only one: the folder is named too.
    code, _, err = run_cli(capsys, "export", fmt, str(out / "sub"), "--project", str(project))
    assert_one_error(code, err, f"cannot create the export folder {out / 'sub'}")


def test_a_failed_plugin_export_leaves_the_previous_one_exactly(project: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                fresh_plugins: None) -> None:
    from detector_app.plugins_api import get_manager

    out = tmp_path / "out"
    assert run_cli(capsys, "export", "yolo", str(out), "--copy-images", "--project", str(project))[0] == 0
    user = add_user_files(out)
    before = tree(out)
    plugin = get_manager().format_plugin("yolo")
    real = type(plugin).write

    def half_way(self: Any, labels: Any, out_dir: Path, *args: Any) -> Path:
        real(self, labels, out_dir, *args)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(plugin), "write", half_way)
    code, _, err = run_cli(capsys, "export", "yolo", str(out), "--copy-images", "--project", str(project))
    lines = [line for line in err.splitlines() if line.startswith("error:")]  # (where the traceback goes: item 10)
    assert code == 2 and len(lines) == 1
    assert f"plugin 'yolo' failed while exporting: RuntimeError: disk on fire; nothing was written to {out}" in lines[0]
    assert tree(out) == before and not leftovers(out)
    assert_user_files(out, user)


# --- rows of an edited database ----------------------------------------------------------------------------


@pytest.mark.parametrize("stored", ["../outside.png", "pics/../../outside.png", "SECRET", "/dev/zero"])
@pytest.mark.parametrize("fmt", ["coco", "yolo"])
def test_a_row_pointing_outside_the_project_is_refused(stored: str, fmt: str, project: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    write_image(tmp_path / "outside.png", 24, 16)
    stored = str(secret) if stored == "SECRET" else stored
    edit_db(project, f"UPDATE images SET path = '{stored}' WHERE id = 3")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "export", fmt, str(out), "--copy-images", "--scope", "all",
                           "--project", str(project))
    assert_one_error(code, err, "image 3", "nothing was written")
    assert not out.exists()


@pytest.mark.parametrize(("sql", "what"), [
    ("UPDATE images SET width = 9e999 WHERE id = 2", "image 2"),
    ("UPDATE images SET width = 'wide' WHERE id = 2", "image 2"),
    ("UPDATE annotations SET w = 9e999 WHERE id = 2", "annotation 2"),
    ("UPDATE annotations SET h = -9e999 WHERE id = 2", "annotation 2"),
    ("UPDATE annotations SET x = 'x' WHERE id = 2", "annotation 2"),
    ("UPDATE annotations SET h = -1 WHERE id = 2", "annotation 2"),
])
@pytest.mark.parametrize("fmt", ["coco", "yolo"])
def test_a_non_finite_row_is_refused_by_id(sql: str, what: str, fmt: str, project: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture, fresh_plugins: None) -> None:
    out = tmp_path / "out"
    args = ("export", fmt, str(out), "--scope", "all", "--project", str(project))
    assert run_cli(capsys, *args)[0] == 0
    user = add_user_files(out)
    before = tree(out)
    edit_db(project, sql)
    code, _, err = run_cli(capsys, *args)
    assert_one_error(code, err, what, "nothing was written")
    assert "plugin" not in err
    assert tree(out) == before
    assert_user_files(out, user)


def test_results_export_refuses_an_infinite_score(project: Path, tmp_path: Path) -> None:
    from detector_app.errors import StorageError
    from detector_app.transfer.exporting import export_coco_results

    edit_db(project, "UPDATE annotations SET origin = 'model', score = 9e999 WHERE id = 4")
    with Project.open(project) as p, pytest.raises(StorageError, match="annotation 4"):
        export_coco_results(p.repo, tmp_path / "results.json")
    assert not (tmp_path / "results.json").exists()


def test_check_target_reads_only(tmp_path: Path) -> None:
    assert target.check_target(tmp_path / "missing") is None and not (tmp_path / "missing").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportTargetError, match="is a file"):
        target.check_target(tmp_path / "file")
