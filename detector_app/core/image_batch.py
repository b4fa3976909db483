"""Checking many image files at once: the same rule (:func:`detector_app.core.images.check_image`), run by
worker processes (one per core but one, see ``worker_count``) when there are enough files to pay for starting them.

An import of 100,000 images spends most of its time in Pillow's Python code reading headers and PNG chunks
(GIL-bound: threads do not help), so the files are split in chunks over processes. Each file is still opened,
identified, size-checked, verified and hashed exactly as one ``check_image(path, digest=True)`` call does.
``streamed_checks`` hands the results out in order as the chunks finish, so an import writes the first
images while the workers check the rest.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
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

    ``workers``: processes to start (default :func:`worker_count`; 0 checks them in this process)."""
    with streamed_checks(paths, workers) as results:
        return list(results)


@contextlib.contextmanager
def streamed_checks(paths: Sequence[Path], workers: int | None = None) -> Iterator[Iterator[CheckedImage | str]]:
    """:func:`check_images` as an iterator, in order: the workers start on entering and check ahead while the
    caller uses the results already there. Leaving the block stops the checks not yet started."""
    count = worker_count(len(paths)) if workers is None else max(0, workers)
    if count == 0:
        yield (result for path in paths for result in _check_chunk([str(path)]))
        return
    size = max(1, min(_CHUNK, -(-len(paths) // (4 * count))))  # a few tasks per worker, so that they balance
    chunks = [[str(p) for p in paths[start:start + size]] for start in range(0, len(paths), size)]
    # A forked worker inherits the import's paused collector (core.gc_pause); its own work is small and steady.
    pool = ProcessPoolExecutor(count, mp_context=_context(), initializer=gc.enable)
    try:
        futures = [pool.submit(_check_chunk, chunk) for chunk in chunks]
        yield _in_order(futures, chunks)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(futures: list[Future[list[CheckedImage | str]]], chunks: list[list[str]]) -> Iterator[CheckedImage | str]:
    broken = False
    for future, chunk in zip(futures, chunks, strict=True):
        try:
            yield from future.result()
        except BrokenProcessPool as exc:  # a worker was killed (out of memory?): the same checks, here
            if not broken:
                log.warning("image check workers failed (%s); checking the files in this process", exc)
                broken = True
            yield from _check_chunk(chunk)


def _context() -> multiprocessing.context.BaseContext:
    """fork on Linux when this process runs one thread (the CLI: workers start at once, and a script without
    an ``if __name__ == "__main__"`` guard is not run again in them); else spawn (the GUI runs imports on a
    worker thread, and forking a threaded process can deadlock the child)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def worker_count(files: int) -> int:
    """Processes worth starting for ``files`` files: none below ``PARALLEL_FROM``, else one per usable core
    but one, which is left to the process that uses the results meanwhile (an import writes them: on two
    cores, a second worker only took CPU time from the writing, measured at 100,000 images)."""
    if files < PARALLEL_FROM:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _check_chunk(paths: list[str]) -> list[CheckedImage | str]:
    out: list[CheckedImage | str] = []
    for path in paths:
        try:
            out.append(check_image(path, digest=True))
        except (StorageError, UnsafePathError, OSError) as exc:  # the folder may have changed since it was read
            out.append(str(exc))
    return out
