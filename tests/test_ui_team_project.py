"""File › Open team project… through the real window, against a real (throw-away) PostgreSQL server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sqlalchemy.engine import make_url

from detector_app.storage import Project
from detector_app.ui.main_window import MainWindow
from detector_app.ui.team_project_dialog import MEDIA_ROOT_KEY, URL_KEY, TeamProjectDialog

from .pg_server import PostgresServer
from .ui_helpers import make_settings, write_image

pytestmark = [pytest.mark.gui, pytest.mark.postgres]


@pytest.fixture
def team(postgres_server: PostgresServer, tmp_path: Path) -> tuple[str, Path]:
    """A team project with two images under a media root; returns its URL (with the password) and the root."""
    url = postgres_server.create_database(f"team_{uuid.uuid4().hex[:10]}")
    media = tmp_path / "media"
    media.mkdir()
    with Project.open(url, media_root=media) as project:
        for name in ("a.jpg", "b.jpg"):
            project.repo.add_image(write_image(media / name, 320, 240))
    return url, media


def _window(qtbot, tmp_path: Path, settings_values: dict[str, object] | None = None) -> MainWindow:
    settings = make_settings(tmp_path, **(settings_values or {}))
    win = MainWindow(settings, project_path=tmp_path / "folder-project")
    qtbot.addWidget(win)
    return win


def _open_dialog(win: MainWindow) -> TeamProjectDialog:
    win.projects.act_open_team.trigger()
    dialog = win.projects.team_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def _fill(dialog: TeamProjectDialog, url: str, password: str, root: str) -> None:
    for edit, text in ((dialog.url, url), (dialog.password, password), (dialog.media_root, root)):
        edit.clear()
        QTest.keyClicks(edit, text)


def test_open_a_team_project_with_a_typed_password(qtbot, tmp_path: Path, team: tuple[str, Path],
                                                   postgres_server: PostgresServer) -> None:
    url, media = team
    win = _window(qtbot, tmp_path)
    folder_project = win.projects.project
    dialog = _open_dialog(win)
    assert not dialog.open_button.isEnabled()  # nothing typed yet
    bare_url = url.replace(f":{postgres_server.password}@", "@")
    _fill(dialog, bare_url, postgres_server.password, str(media))
    QTest.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: win.projects.project is not folder_project, timeout=20_000)
    project = win.projects.project
    assert project.url is not None and postgres_server.password not in project.url
    assert project.path == media.resolve()
    assert win.images.image_model.rowCount() == 2  # the team's images are listed
    assert not dialog.isVisible()
    remembered = str(win.settings.value(URL_KEY))
    assert make_url(remembered) == make_url(bare_url)  # the same server and database, no password
    assert postgres_server.password not in remembered and "***" not in remembered
    assert win.settings.value(MEDIA_ROOT_KEY) == str(media)


def test_a_wrong_password_keeps_the_dialog_open_and_the_project(qtbot, tmp_path: Path, team: tuple[str, Path],
                                                                postgres_server: PostgresServer) -> None:
    url, media = team
    win = _window(qtbot, tmp_path)
    folder_project = win.projects.project
    dialog = _open_dialog(win)
    _fill(dialog, url.replace(f":{postgres_server.password}@", "@"), "not-the-password", str(media))
    QTest.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: "password authentication failed" in dialog.status.text(), timeout=20_000)
    assert "not-the-password" not in dialog.status.text()
    assert dialog.isVisible() and win.projects.project is folder_project
    assert win.settings.value(URL_KEY) is None  # nothing remembered from a failed attempt
    qtbot.waitUntil(dialog.open_button.isEnabled)  # the user may correct it and try again


def test_a_missing_media_root_is_said_before_connecting(qtbot, tmp_path: Path, team: tuple[str, Path]) -> None:
    url, _media = team
    win = _window(qtbot, tmp_path)
    dialog = _open_dialog(win)
    _fill(dialog, url, "", str(tmp_path / "not-mounted"))
    QTest.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert "is not a folder on this computer" in dialog.status.text()
    assert dialog.worker is None and dialog.isVisible()


def test_the_last_team_project_is_reopened_at_start_with_pgpass(qtbot, tmp_path: Path, team: tuple[str, Path],
                                                                postgres_server: PostgresServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url, media = team
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:postgres:{postgres_server.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    bare_url = url.replace(f":{postgres_server.password}@", "@")
    settings = {URL_KEY.replace("/", "__"): bare_url, MEDIA_ROOT_KEY.replace("/", "__"): str(media),
                "project__last_was_team": True}
    win = MainWindow(make_settings(tmp_path, **settings))  # started as the app starts: the last project
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.projects.project is not None and win.projects.project.url is not None,
                    timeout=20_000)
    assert win.images.image_model.rowCount() == 2
