"""Database edges (issue 11, item 8): read-only projects, a 0-byte or foreign project.db, a newer schema,
and ``frames`` being a file. Each is one clear line, and the database is never changed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from detector_app.cli.main import main
from detector_app.errors import StorageError
from detector_app.storage import project as project_mod
from detector_app.storage.project import Project

from .ui_helpers import seed_project

REPO = Path(__file__).resolve().parent.parent


def _one_error(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err


@pytest.fixture
def simulated_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a read-only mount: tests run as root, which ignores permission bits (see the setpriv test)."""
    monkeypatch.setattr(project_mod, "_not_writable", lambda folder, db: f"its folder {folder} is not writable")


def test_empty_project_db_is_reported_not_replaced(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project_dir / "project.db").write_bytes(b"")
    _one_error(capsys, ["stats", "--project", str(project_dir)],
               "project.db is empty (0 bytes): not a project database; move it away")
    assert (project_dir / "project.db").read_bytes() == b""
    with pytest.raises(StorageError, match="is empty"):
        Project.open(project_dir, create=True)


def test_random_bytes_are_not_a_project(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = os.urandom(8192)
    (project_dir / "project.db").write_bytes(junk)
    _one_error(capsys, ["stats", "--project", str(project_dir)], "is not an SQLite database")
    assert (project_dir / "project.db").read_bytes() == junk


def test_newer_schema_is_refused(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Project.open(project_dir).close()
    with sqlite3.connect(project_dir / "project.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    conn.close()
    before = (project_dir / "project.db").read_bytes()
    _one_error(capsys, ["stats", "--project", str(project_dir)], "written by a newer version of detector-app")
    assert (project_dir / "project.db").read_bytes() == before


def test_frames_file_says_what_is_wrong(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Project.open(project_dir).close()
    shutil.rmtree(project_dir / "frames")
    (project_dir / "frames").write_text("not a folder")
    _one_error(capsys, ["stats", "--project", str(project_dir)],
               f"{project_dir.resolve()}/frames should be a folder for captured frames but is a file")


def test_read_only_project_reads_and_exports_but_refuses_changes(
        project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], simulated_read_only: None) -> None:
    seed_project(project_dir)  # a new project is created writable: there is no database yet to protect
    db = project_dir / "project.db"
    before = db.read_bytes()
    assert main(["stats", "--project", str(project_dir)]) == 0
    assert "images: 1 (0 reviewed, 1 unreviewed)" in capsys.readouterr().out
    assert main(["export", "coco", str(tmp_path / "out"), "--scope", "all", "--project", str(project_dir)]) == 0
    assert (tmp_path / "out").is_dir()
    capsys.readouterr()
    with Project.open(project_dir) as project:
        assert project.read_only
        with pytest.raises(StorageError, match="open read-only: the change was not saved"):
            project.repo.ensure_category("new")
    with pytest.raises(StorageError, match="is read-only"):
        Project.open(project_dir, read_only=False)
    assert db.read_bytes() == before


def test_really_read_only_folder_without_root_privileges(project_dir: Path, tmp_path: Path) -> None:
    """The real thing: chmod 0555/0444 and a root process without the capabilities that ignore them."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is not installed")
    caps = "-dac_override,-dac_read_search,-fowner"
    probe = subprocess.run([setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop capabilities here: {probe.stderr.decode()[:200]}")
    seed_project(project_dir)
    for leftover in project_dir.glob("project.db-*"):
        leftover.unlink()
    db = project_dir / "project.db"
    before = db.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    db.chmod(0o444)
    (project_dir / "frames").chmod(0o555)
    project_dir.chmod(0o555)
    env = {**os.environ, "PYTHONPATH": str(REPO), "DETECTOR_APP_OFFLINE": "1"}
    script = ("import sys; from detector_app.cli.main import main; "
              f"a = main(['stats', '--project', {str(project_dir)!r}]); "
              f"b = main(['export', 'coco', {str(out / 'coco')!r}, '--scope', 'all', '--project', "
              f"{str(project_dir)!r}]); "
              f"c = main(['import', 'coco', {str(tmp_path / 'none.json')!r}, '--project', {str(project_dir)!r}]); "
              "print('codes', a, b, c)")
    try:
        proc = subprocess.run([setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", sys.executable, "-c", script],
                              capture_output=True, text=True, timeout=120, env=env)
    finally:
        project_dir.chmod(0o755)
        (project_dir / "frames").chmod(0o755)
        db.chmod(0o644)
    assert "codes 0 0 2" in proc.stdout, proc.stdout + proc.stderr
    assert "images: 1" in proc.stdout and "Traceback" not in proc.stderr
    assert db.read_bytes() == before
    assert not list(project_dir.glob("project.db-*")), "no -wal/-shm files in a read-only folder"


def test_gui_opens_a_read_only_project_with_a_banner(qtbot, tmp_path: Path, project_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from detector_app.ui.main_window import MainWindow

    from .ui_helpers import make_settings

    image_id = seed_project(project_dir)
    db = project_dir / "project.db"
    before = db.read_bytes()
    monkeypatch.setattr(project_mod, "_not_writable", lambda folder, d: "its folder is on a read-only mount")
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    assert win.project.read_only and "(read-only)" in win.windowTitle()
    assert win.banner.text.startswith("This project is read-only (its folder is on a read-only mount)")
    assert not win.act_accept.isEnabled() and not win.act_draw.isEnabled()
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)
    assert win.banner.text.startswith("This project is read-only")  # a loaded model does not hide it
    win.show_image(image_id)
    win.review.accept_all()  # even if an edit gets through, the project refuses it with a message
    qtbot.waitUntil(lambda: "open read-only: the change was not saved" in win.banner.text, timeout=5_000)
    win.close()
    assert db.read_bytes() == before


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("kind", ["random_bytes", "newer_schema"])
def test_a_refused_database_leaves_the_folder_unchanged(project_dir: Path, capsys: pytest.CaptureFixture[str],
                                                        kind: str) -> None:
    """Issue 11 item 8: no empty ``frames/`` (or anything else) appears next to a database that was refused."""
    if kind == "random_bytes":
        (project_dir / "project.db").write_bytes(os.urandom(8192))
        expected = "is not an SQLite database"
    else:
        Project.open(project_dir).close()
        shutil.rmtree(project_dir / "frames")
        with sqlite3.connect(project_dir / "project.db") as conn:
            conn.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
        conn.close()
        expected = "written by a newer version of detector-app"
    before = _listing(project_dir)
    assert "frames" not in before
    _one_error(capsys, ["stats", "--project", str(project_dir)], expected)
    assert _listing(project_dir) == before
    with pytest.raises(StorageError):
        Project.open(project_dir, create=True)
    assert _listing(project_dir) == before


def test_a_read_only_open_creates_no_frames_folder(project_dir: Path) -> None:
    Project.open(project_dir).close()
    shutil.rmtree(project_dir / "frames")
    with Project.open(project_dir, create=False, read_only=True) as project:
        assert project.read_only
    assert not os.path.lexists(project_dir / "frames")  # (SQLite's -wal/-shm of a WAL reader may appear)
    Project.open(project_dir).close()  # a writable open makes it
    assert (project_dir / "frames").is_dir()


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("class_names", '"cat"', "model version 1 in the project database: class_names is a single text (the text 'cat'), "
                            "not a list of class names"),
    ("class_names", "5", "model version 1 in the project database: class_names must be a list of class names, "
                         "not the number 5"),
    ("class_names", '[1, 2]', "model version 1 in the project database: class name 1 is the number 1, not text"),
    ("class_names", "[]", "model version 1 in the project database: class_names lists no classes"),
    ("metrics", "[1, 2]", "model version 1 in the project database: metrics must be a dict, not a list of 2 items"),
    ("settings", '"x"', "model version 1 in the project database: settings must be a dict, not the text 'x'"),
])
def test_an_edited_model_version_row_is_one_clear_error(project_dir: Path, capsys: pytest.CaptureFixture[str],
                                                        column: str, value: str, expected: str) -> None:
    """Issue 11 item 5: a row edited by hand goes through the same checks as a weight file's metadata; a string
    is never split into one class per character."""
    with Project.open(project_dir) as project:
        version = project.repo.add_model_version("v", "retinanet_light", ["cat", "dog"])
    assert version.id == 1
    with sqlite3.connect(project_dir / "project.db") as conn:
        conn.execute(f"UPDATE model_versions SET {column} = ? WHERE id = 1", (value,))
    conn.close()
    _one_error(capsys, ["eval", "--project", str(project_dir), "--version", "1", "--size", "128",
                        "--device", "cpu"], expected)
    with Project.open(project_dir, create=False) as project, pytest.raises(StorageError, match="model version 1"):
        project.repo.model_versions()
