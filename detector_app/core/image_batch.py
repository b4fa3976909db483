"""Checking many image files at once: the same rule (:func:`detector_app.core.images.check_image`), run by
worker processes, one per core, when there are enough files to pay for starting them.

An import of 100,000 images spends most of its time in Pillow's Python code reading headers and PNG chunks
(GIL-bound: threads do not help), so the files are split in chunks over processes. Each file is still opened,
identified, size-checked, verified and hashed exactly as one ``check_image(path, digest=True)`` call does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from detector_app.core.images import CheckedImage, check_image
from detector_app.core.paths import UnsafePathError
from detector_app.errors import StorageError

log = logging.getLogger(__name__)

PARALLEL_FROM = 4000  # fewer files are checked in this process: starting the workers costs about half a second
_CHUNK = 500  # files per task at most: sending paths and results then costs little


def check_images(paths: Sequence[Path], workers: int | None = None) -> list[CheckedImage | str]:
    """``check_image(path, digest=True)`` of each file, in order, or the one-line reason it cannot be used.

    ``workers``: processes to use (default: one per core this process may run on, when there are at least
    ``PARALLEL_FROM`` files; 1 checks them here)."""
    count = worker_count(len(paths)) if workers is None else max(1, workers)
    if count <= 1:
        return _check_chunk([str(p) for p in paths])
    size = max(1, min(_CHUNK, -(-len(paths) // (4 * count))))  # a few tasks per worker, so that they balance
    chunks = [[str(p) for p in paths[start:start + size]] for start in range(0, len(paths), size)]
    try:
        with ProcessPoolExecutor(count, mp_context=_context()) as pool:
            return [result for chunk in pool.map(_check_chunk, chunks) for result in chunk]
    except BrokenProcessPool as exc:  # a worker was killed (out of memory?): the same checks, here
        log.warning("image check workers failed (%s); checking the files in this process", exc)
        return _check_chunk([str(p) for p in paths])


def _context() -> multiprocessing.context.BaseContext:
    """fork on Linux when this process runs one thread (the CLI: workers start at once, and a script without
    an ``if __name__ == "__main__"`` guard is not run again in them); else spawn (the GUI runs imports on a
    worker thread, and forking a threaded process can deadlock the child)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def worker_count(files: int) -> int:
    """Processes worth starting for ``files`` files: one per usable core, none below ``PARALLEL_FROM``."""
    if files < PARALLEL_FROM:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores)


def _check_chunk(paths: list[str]) -> list[CheckedImage | str]:
    out: list[CheckedImage | str] = []
    for path in paths:
        try:
            out.append(check_image(path, digest=True))
        except (StorageError, UnsafePathError, OSError) as exc:  # the folder may have changed since it was read
            out.append(str(exc))
    return out
