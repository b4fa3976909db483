"""File › Export labels… and Import labels… through the real dialogs: the destination shown and checked, replacing
confirmed, where the files went with a button that opens the folder, every format offered, choices remembered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from detector_app.formats.target import MANIFEST
from detector_app.storage.project import Project
from detector_app.transfer.exporting import check_destination
from detector_app.transfer.formats import format_names
from detector_app.ui.main_window import MainWindow

from .helpers_storage import dump_database, small_dataset
from .ui_helpers import make_settings, seed_project

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("fresh_plugins")]


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, project_dir: Path) -> MainWindow:
    seed_project(project_dir)
    with Project.open(project_dir) as project:  # both predictions accepted: the image is reviewed
        for ann in project.repo.annotations_for_image(1):
            project.repo.set_status(ann.id, "accepted")
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()  # the banner reports only while shown
    return win


def open_export(win: MainWindow) -> Any:
    win.projects.act_export.trigger()  # File › Export labels… (Ctrl+E)
    dialog = win.projects.export_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_export_shows_checks_confirms_and_opens_the_destination(window: MainWindow, qtbot: Any, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    opened: list[QUrl] = []
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda _p, _t, text, *a: asked.append(text) or answers.pop(0)))
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    db = window.project.path / "project.db"
    before = dump_database(db)

    dialog = open_export(window)
    for folder, why in (("/", "top of the file system"), (str(home), "home folder itself")):
        dialog.folder.setText(folder)
        assert why in dialog.note.text() and not dialog.export_button.isEnabled()
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"mine")
    dialog.folder.setText(str(foreign))
    assert "not empty" in dialog.note.text() and not dialog.export_button.isEnabled()
    dialog.export_button.click()  # disabled: nothing happens
    assert dialog.isVisible() and sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]

    out = tmp_path / "exports" / "first"
    dialog.folder.setText(str(out))
    assert "New folder" in dialog.note.text() and dialog.export_button.isEnabled()
    dialog.export_button.click()
    data = json.loads((out / "instances.json").read_text())
    assert len(data["images"]) == 1 and len(data["annotations"]) == 2 and asked == []
    done = window.projects.export_done
    assert done.isVisible() and str(out) in done.findChild(type(dialog.note), "exportDone").text()
    assert str(out) in window.banner.text
    done.open_button.click()
    assert opened == [QUrl.fromLocalFile(str(out))] and opened[0].toLocalFile() == str(out)
    assert dump_database(db) == before  # an export only reads

    # Again: the dialog comes back with the last folder, says it holds an export, and asks before replacing.
    manifest = (out / MANIFEST).read_text()
    dialog = open_export(window)
    assert dialog.folder.text() == str(out) and "Holds a coco export" in dialog.note.text()
    dialog.export_button.click()  # Cancel
    assert len(asked) == 1 and str(out) in asked[0] and (out / MANIFEST).read_text() == manifest
    dialog = open_export(window)
    dialog.export_button.click()  # Yes
    assert len(asked) == 2 and json.loads((out / MANIFEST).read_text())["export_id"] != json.loads(manifest)["export_id"]


def test_every_registered_format_is_offered_and_the_choice_is_remembered(window: MainWindow, tmp_path: Path) -> None:
    dialog = open_export(window)
    offered = [dialog.format.itemText(i) for i in range(dialog.format.count())]
    assert offered == format_names("export") and {"coco", "yolo", "voc"} <= set(offered)  # plugins too
    dialog.format.setCurrentText("yolo")
    dialog.scope.setCurrentIndex(dialog.scope.findData("all"))
    dialog.folder.setText(str(tmp_path / "yolo-out"))
    dialog.export_button.click()
    assert (tmp_path / "yolo-out" / "data.yaml").is_file()
    assert check_destination(tmp_path / "yolo-out").format == "yolo"  # the plugin wrote it, through the target
    dialog = open_export(window)
    assert (dialog.format.currentText(), dialog.scope.currentData()) == ("yolo", "all")
    assert dialog.folder.text() == str(tmp_path / "yolo-out")


def test_import_dialog_says_imported_once_and_remembers_folder_and_format(
        qtbot: Any, tmp_path: Path, project_dir: Path) -> None:
    json_path, images_dir = small_dataset(tmp_path / "src", n_images=2)
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    win.projects.act_import_coco.trigger()  # File › Import labels…
    dialog = win.projects.import_dialog
    assert dialog.isVisible() and dialog.format.currentText() == "coco"
    assert [dialog.format.itemText(i) for i in range(dialog.format.count())] == format_names("import")
    dialog.path.setText(str(json_path))
    dialog.images.setText(str(images_dir))
    dialog.import_button.click()
    assert win.project.repo.count_images() == 2 and win.project.repo.count_annotations() == 4
    text = win.banner.text
    assert text.startswith("Imported 4 boxes on 2 images") and "mported imported" not in text.lower()

    win.projects.act_import_coco.trigger()
    again = win.projects.import_dialog
    assert (again.format.currentText(), again.path.text(), again.images.text()) == (
        "coco", str(json_path), str(images_dir))
    again.reject()
    win.close()
    restarted = MainWindow(make_settings(tmp_path), project_path=project_dir)  # same settings file
    qtbot.addWidget(restarted)
    restarted.projects.act_import_coco.trigger()
    assert restarted.projects.import_dialog.path.text() == str(json_path)


def test_open_folder_without_a_file_manager_says_where_the_folder_is(window: MainWindow, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: False))  # nothing handles file://
    dialog = open_export(window)
    out = tmp_path / "exports" / "nowhere-to-open"
    dialog.folder.setText(str(out))
    dialog.export_button.click()
    done = window.projects.export_done
    assert done.isVisible() and not done.failed.isVisible()
    done.open_button.click()
    assert done.failed.isVisible()
    assert done.failed.text() == f"No file manager could open the folder; it is {out}"
    assert (out / "instances.json").is_file()
