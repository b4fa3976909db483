"""Read frames ahead in a background thread so decoding overlaps inference (no frame is dropped)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

from detector_app.sources.base import Frame

_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(frames: Iterable[Frame], depth: int = 4) -> Iterator[Frame]:
    """Yield ``frames`` in order while up to ``depth`` more are decoded in a thread.

    Errors in the reader are re-raised here; closing the generator (or Ctrl-C) stops the reader.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for frame in frames:
                if not offer(frame):
                    return
            offer(_END)
        except BaseException as exc:  # handed to the consuming thread, which decides what to do
            offer(_Failure(exc))

    thread = threading.Thread(target=reader, name="frame-reader", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
