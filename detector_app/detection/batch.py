"""Detection over a whole video or folder, as fast as the machine allows. Which frames are then kept is
:func:`~detector_app.detection.storing.boxes_to_store` (re-exported here), the one rule for every caller.

Decoding runs ahead in its own thread. On a CPU, ``workers`` > 1 runs several frames at once, each
on its share of the cores. There is then no per-layer synchronisation between threads, so when other
processes compete for the cores a descheduled thread does not stall the others, and one frame's serial
steps (NMS, decoding boxes) overlap another frame's convolutions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from detector_app.core.detections import Detections
from detector_app.detection.detector import Detector
from detector_app.detection.storing import boxes_to_store
from detector_app.sources.base import Frame
from detector_app.sources.prefetch import read_ahead

__all__ = ["boxes_to_store", "default_workers", "detect_frames"]


def default_workers(detector: Detector) -> int:
    """One frame at a time on a GPU; two on a CPU, each on half the cores (measured on 2 cores: as fast
    as one frame on both cores when the machine is idle, twice as fast when other processes compete)."""
    return 1 if detector.device.type != "cpu" else 2


def detect_frames(
    frames: Iterable[Frame], detector: Detector, *, workers: int | None = None, read_ahead_depth: int = 4
) -> Iterator[tuple[Frame, Detections]]:
    """``(frame, detections)`` for every frame, in order."""
    workers = default_workers(detector) if workers is None else max(1, workers)
    ahead = read_ahead(frames, depth=read_ahead_depth)
    try:
        if workers == 1:
            for frame in ahead:
                yield frame, detector.predict(frame.image)
            return
        yield from _parallel(ahead, detector, workers)
    finally:
        # Closed here, not left to garbage collection: a caller that stops early (Cancel, Ctrl-C) must stop the
        # reader thread at once (a CI run found it still decoding 10 s after close()).
        ahead.close()


def _parallel(frames: Iterator[Frame], detector: Detector, workers: int) -> Iterator[tuple[Frame, Detections]]:
    total = torch.get_num_threads()
    per_worker = max(1, total // workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="detect", initializer=torch.set_num_threads,
                              initargs=(per_worker,))
    pending: deque[tuple[Frame, Future[Detections]]] = deque()
    try:
        for frame in frames:
            pending.append((frame, pool.submit(detector.predict, frame.image)))
            if len(pending) > workers:  # enough queued to keep every worker busy, no more
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(total)  # the workers' setting would otherwise leak into later threads

