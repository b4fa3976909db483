"""Bulk imports and exports pause Python's cycle collector (core/gc_pause.py) and always give it back as they
found it: after a success, after a refusal, with blocks nested or overlapping on threads, and never in the
worker processes that check image files."""

from __future__ import annotations

import gc
import json
import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector_app.core import image_batch
from detector_app.core.gc_pause import collector_paused
from detector_app.formats.coco_validate import CocoValidationError
from detector_app.storage import Project
from detector_app.transfer.exporting import export_coco
from detector_app.transfer.importing import import_coco

from .helpers_storage import small_dataset


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_blocks_nest_and_the_collector_resumes_after_the_last() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()


def test_overlapping_blocks_on_threads_resume_it_once_both_end() -> None:
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with collector_paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    inside.wait(10)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the thread's block has not ended
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_an_error_inside_still_resumes_it() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def _collector_state(paths: list[str]) -> list[str]:
    return [f"collector enabled: {gc.isenabled()}" for _ in paths]


def test_forked_check_workers_collect_even_while_the_import_pauses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked worker inherits the paused collector; it checks 100,000 files, so it turns it back on."""
    monkeypatch.setattr(image_batch, "_context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(image_batch, "_check_chunk", _collector_state)  # the fork sees the replacement
    with collector_paused():
        states = image_batch.check_images([Path(f"{n}.png") for n in range(8)], workers=1)
    assert states == ["collector enabled: True"] * 8


def test_import_and_export_leave_it_enabled(tmp_path: Path, project_dir: Path) -> None:
    json_path, images_dir = small_dataset(tmp_path / "set", n_images=4)
    with Project.open(project_dir) as project:
        report = import_coco(project.repo, json_path, images_dir)
        assert report.images_added == 4 and gc.isenabled()
        data = json.loads(json_path.read_text())
        data["annotations"][0]["bbox"] = "nonsense"
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(data))
        with pytest.raises(CocoValidationError):
            import_coco(project.repo, bad, images_dir)
        assert gc.isenabled()
        export_coco(project.repo, tmp_path / "out")
        assert gc.isenabled()
