"""Regressions from the hostile-input probe of issue 11 (items 6, 7, 10), each through the CLI in-process:
exit code, exactly one ``error:`` line, no traceback, the user's files byte-identical, nothing copied.

* 6a: an edited row naming a file outside the project (hash kept or NULL) is refused by ``export --copy-images``;
* 6b/6c: VOC ``labels.txt``, YOLO ``classes.txt`` / ``data.yaml`` and a YOLO ``labels/`` folder that are symlinks
  leading out of the dataset are refused at import;
* 7a: ``plugins`` escapes control characters in plugin versions and load errors;
* 10a: a format plugin returning None, a path outside its folder, or writing the manifest fails in one line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector_app.cli.main import main
from detector_app.plugins_api import API_VERSION
from detector_app.plugins_api.manager import reset_manager
from detector_app.plugins_api.probe import TIMEOUT_ENV
from detector_app.storage import Project

from .hardening_export_helpers import assert_one_error, run_cli, tree
from .helpers_storage import write_image


def make_project(folder: Path, n: int = 3) -> Path:
    for i in range(n):
        write_image(folder / "pics" / f"img_{i}.png", 24, 16, color=i * 9)
    with Project.open(folder) as project:
        for image in project.repo.add_images_from_folder(folder / "pics") if n else []:
            project.repo.add_annotation(image.id, "cat", (1, 2, 6, 5))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def edit_db(project_dir: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(project_dir / "project.db")
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


# --- 6a: an edited row outside the project is refused, never copied ----------------------------------------


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
@pytest.mark.parametrize("stored_hash", ["original", "null"])
def test_edited_row_outside_the_project_is_not_copied(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      fmt: str, stored_hash: str) -> None:
    secret = write_image(tmp_path / "secret" / "secret.png", 24, 16, color=200)
    secret_bytes = secret.read_bytes()
    sql = "UPDATE images SET path = ?" + (", content_hash = NULL" if stored_hash == "null" else "") + " WHERE id = 1"
    edit_db(project, sql, str(secret))
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "export", fmt, str(out), "--copy-images", "--scope", "all",
                           "--project", str(project))
    assert_one_error(code, err, "image 1", "is not the image the project stored", "nothing was written")
    assert secret.read_bytes() == secret_bytes
    assert all(data != secret_bytes for data in tree(out).values())


def test_an_image_changed_on_disk_is_refused_and_a_clean_project_exports(project: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--copy-images", "--scope", "all",
                   "--project", str(project))[0] == 0
    before = tree(out)
    write_image(project / "pics" / "img_1.png", 24, 16, color=77)  # same name, other content
    code, _, err = run_cli(capsys, "export", "coco", str(out), "--copy-images", "--scope", "all",
                           "--project", str(project))
    assert_one_error(code, err, "image 2", "is not the image the project stored")
    assert tree(out) == before


# --- 6b/6c: symlinks leading out of a dataset are refused at import ----------------------------------------


@pytest.fixture
def datasets(project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("datasets")
    for fmt in ("yolo", "voc"):
        assert main(["export", fmt, str(root / fmt), "--copy-images", "--scope", "all",
                     "--project", str(project)]) == 0
    return {"yolo": root / "yolo", "voc": root / "voc"}


def _swap_for_link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.symlink_to(target)


@pytest.mark.parametrize("case", ["voc labels.txt", "yolo classes.txt", "yolo data.yaml", "yolo labels/"])
def test_symlinks_leading_out_of_a_dataset_are_refused(datasets: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture, case: str) -> None:
    fmt, name = case.split()
    dataset = datasets[fmt]
    outside = tmp_path / "outside"
    outside.mkdir()
    if name == "labels/":
        (outside / "img_0.txt").write_text("0 0.5 0.5 0.2 0.2\n")
        _swap_for_link(dataset / "labels", outside)
    else:
        (outside / "names.txt").write_text("secret-class\n")
        if name == "classes.txt":  # read only without a dataset yaml (which names the classes itself)
            (dataset / "data.yaml").unlink()
        if name == "data.yaml":
            (dataset / "classes.txt").unlink()
            (outside / "names.txt").write_text("names: [secret-class]\n")
        _swap_for_link(dataset / name, outside / "names.txt")
    outside_before = tree(outside)
    target = make_project(tmp_path / "target", n=0)
    db_before = (target / "project.db").read_bytes()
    code, _, err = run_cli(capsys, "import", fmt, str(dataset), "--project", str(target))
    assert_one_error(code, err, "outside")
    assert tree(outside) == outside_before
    assert (target / "project.db").read_bytes() == db_before
    assert "secret-class" not in err


def test_a_fifo_classes_txt_does_not_hang(datasets: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    dataset = datasets["yolo"]
    (dataset / "classes.txt").unlink()
    os.mkfifo(dataset / "classes.txt")
    target = make_project(tmp_path / "target", n=0)
    code, _, err = run_cli(capsys, "import", "yolo", str(dataset), "--project", str(target))
    assert "Traceback" not in err  # data.yaml still names the classes: the import may go on
    assert code in (0, 2), err


# --- plugins: 7a (escaped output) and 10a (bad write() results) ---------------------------------------------


@pytest.fixture
def user_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from detector_app.paths import app_paths

    monkeypatch.setenv(TIMEOUT_ENV, "5")
    folder = app_paths().user_plugins
    folder.mkdir(parents=True, exist_ok=True)
    reset_manager()
    yield folder
    reset_manager()


NOISY = f'''
from detector_app.plugins_api import FormatPlugin


class Noisy(FormatPlugin):
    name = "noisy"
    version = "1\\x1b[2J\\x07"
    api_version = {API_VERSION}
    description = "clears \\x1b[2J the screen"

    def write(self, labels, out_dir, copy_images):
        (out_dir / "x.txt").write_text("x")
        return out_dir / "x.txt"


PLUGINS = [Noisy]
'''

BROKEN = 'raise ValueError("bad \\x1b[2J plugin \\x07")\n'


def test_plugins_output_escapes_control_characters(user_plugins: Path, capsys: pytest.CaptureFixture) -> None:
    (user_plugins / "noisy.py").write_text(NOISY)
    (user_plugins / "broken.py").write_text(BROKEN)
    code, out, err = run_cli(capsys, "plugins")
    assert code == 0, err
    assert "noisy" in out and "broken" in out + err
    for text in (out, err):
        assert "\x1b" not in text and "\x07" not in text, text
    assert "\\x1b" in out


BAD_WRITER = f'''
from pathlib import Path

from detector_app.plugins_api import FormatPlugin


class BadWriter(FormatPlugin):
    name = "{{name}}"
    version = "1.0"
    api_version = {API_VERSION}

    def write(self, labels, out_dir, copy_images):
        (out_dir / "labels.txt").write_text("x")
        {{body}}


PLUGINS = [BadWriter]
'''

BAD_RESULTS = {
    "retnone": "return None",
    "retout": "return Path('/etc/passwd')",
    "retupward": "return out_dir / '..' / '..' / 'x'",
    "writesmanifest": "(out_dir / '.detector-app-export.json').write_text('{}'); return out_dir / 'labels.txt'",
}


@pytest.mark.parametrize("name", sorted(BAD_RESULTS))
def test_a_bad_write_result_is_the_plugins_failure(user_plugins: Path, project: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture, name: str) -> None:
    (user_plugins / f"{name}.py").write_text(BAD_WRITER.format(name=name, body=BAD_RESULTS[name]))
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "coco", str(out), "--scope", "all", "--project", str(project))[0] == 0
    before = tree(out)
    passwd = Path("/etc/passwd")
    passwd_hash = hashlib.sha256(passwd.read_bytes()).hexdigest() if passwd.is_file() else None
    code, _, err = run_cli(capsys, "export", name, str(out), "--scope", "all", "--project", str(project))
    assert_one_error(code, err, f"plugin '{name}' failed while exporting", f"nothing was written to {out}")
    assert tree(out) == before
    if passwd_hash is not None:
        assert hashlib.sha256(passwd.read_bytes()).hexdigest() == passwd_hash
