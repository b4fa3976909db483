"""Projects, CLI runs and folder snapshots shared by the export hardening tests."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from detector_app.cli.main import main
from detector_app.formats.target import JOURNAL, MANIFEST, STAGING_PREFIX
from detector_app.storage import Project

from .helpers_storage import write_image

N_IMAGES = 8
SCOPE_A = "1,2,3,4"  # a smaller export (a selection) ...
SCOPE_B = "all"  # ... and a larger one, each replacing the other
USER_FILES = {"notes.txt": b"my notes\n", "images/mine.png": b"not from the app", "deep/er/x.bin": b"\x00\x01"}




def make_project(folder: Path, n_images: int = N_IMAGES, n_boxes: int = N_IMAGES) -> Path:
    """Images 1..n (small PNGs); the first ``n_boxes`` with one human box."""
    for i in range(n_images):
        write_image(folder / "pics" / f"img_{i:03d}.png", 24, 16, color=i * 7)
    with Project.open(folder) as project:
        repo = project.repo
        for image in repo.add_images_from_folder(folder / "pics")[:n_boxes]:
            repo.add_annotation(image.id, "cat" if image.id % 2 else "dog", (1.5, 2, 6, 5))
    return folder


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(code: int, err: str, *needles: str) -> str:
    """Exit 2, exactly one ``error:`` line on stderr, no traceback; returns the line."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def add_user_files(folder: Path) -> dict[str, bytes]:
    for rel, data in USER_FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return dict(USER_FILES)


def assert_user_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        assert (folder / rel).read_bytes() == data, rel


def export_state(folder: Path) -> dict[str, str]:
    """The export's own files (hashes; the JSON without its date), checked against the manifest."""
    manifest = json.loads((folder / MANIFEST).read_text())
    listed = {f["path"] for f in manifest["files"]}
    state = {}
    for rel in sorted(listed):
        data = (folder / rel).read_bytes()
        if rel == "instances.json":
            dataset = json.loads(data)
            dataset["info"].pop("date_created")
            data = json.dumps(dataset, sort_keys=True).encode()
        state[rel] = hashlib.sha256(data).hexdigest()
    return state


def leftovers(folder: Path) -> list[str]:
    """Staging folders and journals under ``folder`` or beside it."""
    found = []
    for place in (folder, folder.parent):
        for p in place.rglob("*") if place == folder else place.iterdir():
            if p.name.startswith((STAGING_PREFIX, ".export-")) or ".partial-" in p.name or p.name == JOURNAL:
                found.append(str(p))
    return found


def edit_db(project_dir: Path, sql: str) -> None:
    conn = sqlite3.connect(project_dir / "project.db")
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


