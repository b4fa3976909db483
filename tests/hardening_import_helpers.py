"""A hostile little world for import tests: the user's files, a project, a watch on what is opened, and
VOC/YOLO datasets to tamper with."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from detector_app.cli.main import main
from detector_app.core.names import is_unsafe_char
from detector_app.storage import Project
from detector_app.transfer.importing import import_coco

from .helpers_storage import small_dataset, write_image

REPO_ROOT = Path(__file__).resolve().parent.parent
HYPOTHESIS = settings(max_examples=50, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- watching what is opened -------------------------------------------------------------------------------

_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
        _opened.append(os.path.abspath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # permanent, but records only inside ``opens()``


@contextlib.contextmanager
def opens() -> Iterator[list[str]]:
    """Every path opened (``open``, ``os.open``, ``io.open_code``) in this process meanwhile."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def opened_under(paths: list[str], folder: Path) -> list[str]:
    real = folder.resolve()
    return [p for p in paths if Path(p).resolve() == real or real in Path(p).resolve().parents]


# --- the user's files ----------------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content hash (regular files), link target (symlinks) or kind (FIFOs, folders)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "dir" if path.is_dir() else "other"
    return out


def db_bytes(project: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(project.glob("project.db*")))


def make_world(tmp_path: Path) -> dict[str, Path]:
    """A project holding a valid small import, a clean dataset to break, and a 'secret' folder outside it with
    an image, a FIFO and a file the importers must never open."""
    project = tmp_path / "project"
    first_json, first_images = small_dataset(tmp_path / "first", n_images=2, boxes_per_image=1)
    with Project.open(project) as p:
        import_coco(p.repo, first_json, first_images)
    data_json, images = small_dataset(tmp_path / "data", n_images=3, boxes_per_image=2)
    secret = tmp_path / "secret"
    write_image(secret / "img_0.png", 80, 60)
    write_image(secret / "real.png", 80, 60)
    os.mkfifo(secret / "pipe.png")
    (secret / "private.txt").write_text("do not read")
    return {"root": tmp_path, "project": project, "json": data_json, "images": images, "secret": secret}


@contextlib.contextmanager
def unchanged(world: dict[str, Path]) -> Iterator[list[str]]:
    """The database and every user file (the project's images too) byte-identical afterwards, and nothing
    opened under the secret folder."""
    before_db, before_files = db_bytes(world["project"]), snapshot(world["root"] / "data")
    before_secret, before_first = snapshot(world["secret"]), snapshot(world["root"] / "first")
    with opens() as opened:
        yield opened
    assert opened_under(opened, world["secret"]) == [], "a file outside the image folder was opened"
    assert db_bytes(world["project"]) == before_db
    assert snapshot(world["root"] / "data") == before_files
    assert snapshot(world["secret"]) == before_secret
    assert snapshot(world["root"] / "first") == before_first


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_error_line(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert not any(is_unsafe_char(c) for c in lines[0]), lines[0]  # no escape sequence reached stderr
    for text in expected:
        assert text in lines[0], lines[0]



# --- VOC and YOLO datasets -------------------------------------------------------------------------------

def _plugin(name: str) -> Any:
    """The shipped format plugin, loaded from its file (independent of plugin discovery)."""
    spec = importlib.util.spec_from_file_location(f"_hardening_{name}", REPO_ROOT / "plugins" / f"{name}_format.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VOC = _plugin("voc")
YOLO = _plugin("yolo")


def voc_dataset(root: Path, folder: str, filename: str, name: str = "cat") -> Path:
    write_image(root / "JPEGImages" / "img_0.png", 80, 60)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    xml = (f"<annotation><folder>{folder}</folder><filename>{filename}</filename>"
           f"<size><width>80</width><height>60</height><depth>3</depth></size>"
           f"<object><name>{name}</name><difficult>0</difficult>"
           f"<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object></annotation>")
    (root / "Annotations" / "img_0.xml").write_text(xml)
    return root


def yolo_dataset(root: Path, label: str = "0 0.5 0.5 0.25 0.25\n", classes: str = "cat\ndog\n") -> Path:
    write_image(root / "images" / "img_0.png", 80, 60)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "img_0.txt").write_text(label, encoding="utf-8", errors="surrogatepass")
    (root / "classes.txt").write_text(classes, encoding="utf-8", errors="surrogatepass")
    return root


