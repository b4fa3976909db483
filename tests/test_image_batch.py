"""Checking many image files at once (core/image_batch.py, used by imports): worker processes give exactly
what checking each file here gives, good files and refused ones alike, and an import through them refuses a
bad file with the same one line."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest

from detector_app.core import image_batch
from detector_app.core.images import CheckedImage
from detector_app.formats import coco_validate
from detector_app.formats.coco_validate import CocoValidationError
from detector_app.storage import Project, label_import
from detector_app.transfer.importing import import_coco

from .helpers_storage import dump_database, small_dataset, write_image


def mixed_files(folder: Path) -> list[Path]:
    """Good PNGs and JPEGs (one rotated by EXIF), a truncated PNG, a text file, a folder and a missing file."""
    paths = [write_image(folder / f"{n:03}.png", 40 + n, 30, color=n) for n in range(30)]
    paths.append(write_image(folder / "rotated.jpg", 60, 20, exif_orientation=6))
    truncated = folder / "truncated.png"
    truncated.write_bytes(paths[0].read_bytes()[:-20])
    text = folder / "notes.png"
    text.write_text("not an image")
    (folder / "dir.png").mkdir()
    return [*paths, truncated, text, folder / "dir.png", folder / "missing.png"]


def same(result: CheckedImage | str) -> tuple:
    if isinstance(result, str):
        return ("refused", result)
    return (result.width, result.height, result.rotated, result.sha256)


def test_workers_give_what_checking_here_gives(tmp_path: Path) -> None:
    paths = mixed_files(tmp_path)
    here = image_batch.check_images(paths, workers=0)
    there = image_batch.check_images(paths, workers=2)
    assert [same(r) for r in there] == [same(r) for r in here]
    assert sum(isinstance(r, str) for r in here) == 4  # truncated, text, folder, missing: each refused
    assert same(here[30])[:3] == (20, 60, True)  # EXIF orientation 6: displayed 20 x 60
    assert len({same(r)[3] for r in here[:30]}) == 30  # one hash per distinct file


def test_from_a_worker_thread_as_the_gui_imports_the_workers_are_spawned(tmp_path: Path) -> None:
    """The GUI imports on a worker thread: forking a threaded process is unsafe, so fresh processes check."""
    paths = mixed_files(tmp_path)
    results: list[list[CheckedImage | str]] = []
    contexts: list[str] = []

    def work() -> None:
        contexts.append(image_batch._context().get_start_method())
        results.append(image_batch.check_images(paths, workers=2))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=120)
    assert contexts == ["spawn"]
    assert [same(r) for r in results[0]] == [same(r) for r in image_batch.check_images(paths, workers=0)]


def test_an_import_checked_by_workers_refuses_a_bad_file_with_one_line(
        tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_batch, "PARALLEL_FROM", 2)  # a small set goes through the workers too
    json_path, images_dir = small_dataset(tmp_path / "set", n_images=4)
    data = json.loads(json_path.read_text())
    (images_dir / data["images"][2]["file_name"]).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with Project.open(project_dir) as project:
        assert image_batch.worker_count(4) == image_batch.worker_count(10_000) >= 1  # one per core but one
        with pytest.raises(CocoValidationError, match=r"image id \d+: .*is not a readable image") as refused:
            import_coco(project.repo, json_path, images_dir)
        assert len(refused.value.problems) == 1 and project.repo.count_images() == 0
        write_image(images_dir / data["images"][2]["file_name"], data["images"][2]["width"],
                    data["images"][2]["height"])
        report = import_coco(project.repo, json_path, images_dir)
        assert report.images_added == 4
        assert all(len(image.content_hash or "") == 64 for image in project.repo.list_images())


def test_images_written_while_later_ones_are_checked_are_rolled_back_by_a_bad_one(
        tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import writes each chunk of images as soon as its files are checked: bad files in two later chunks
    are both named, and the chunks already written are rolled back with the rest."""
    monkeypatch.setattr(image_batch, "PARALLEL_FROM", 2)
    monkeypatch.setattr(label_import, "_WRITE_CHUNK", 2)
    json_path, images_dir = small_dataset(tmp_path / "set", n_images=7)
    data = json.loads(json_path.read_text())
    for index in (4, 6):  # the third and fourth chunks; the first two are written before
        (images_dir / data["images"][index]["file_name"]).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with Project.open(project_dir) as project:
        project.repo.add_category("kept")
        before = dump_database(project.db_path)
        with pytest.raises(CocoValidationError) as refused:
            import_coco(project.repo, json_path, images_dir)
        assert [p.split(":")[0] for p in refused.value.problems] == [
            f"image id {data['images'][i]['id']}" for i in (4, 6)]
        assert dump_database(project.db_path) == before


def test_checks_start_once_the_images_validate_and_stop_at_a_bad_box(
        tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file checks overlap the boxes' validation (every name is confined first); a bad box stops them and
    the import changes nothing."""
    monkeypatch.setattr(image_batch, "PARALLEL_FROM", 2)
    order: list[str] = []
    real_checks, real_boxes = image_batch.streamed_checks, coco_validate._check_annotations

    @contextlib.contextmanager
    def checks(paths, workers=None):  # type: ignore[no-untyped-def]
        order.append("checks started")
        try:
            with real_checks(paths, workers) as results:
                yield results
        finally:
            order.append("checks stopped")

    def boxes(*args):  # type: ignore[no-untyped-def]
        order.append("boxes checked")
        return real_boxes(*args)

    monkeypatch.setattr(image_batch, "streamed_checks", checks)
    monkeypatch.setattr(coco_validate, "_check_annotations", boxes)
    json_path, images_dir = small_dataset(tmp_path / "set", n_images=4)
    data = json.loads(json_path.read_text())
    data["annotations"][-1]["bbox"] = [1, 2, -3, 4]
    json_path.write_text(json.dumps(data))
    with Project.open(project_dir) as project:
        with pytest.raises(CocoValidationError, match="positive width and height"):
            import_coco(project.repo, json_path, images_dir)
        assert project.repo.count_images() == 0
    assert order == ["checks started", "boxes checked", "checks stopped"]
