"""A training run in a separate process (multiprocessing, spawn), streaming events through a queue.

A separate process keeps the GUI responsive whatever the run does (PyTorch holds the GIL in places,
and a crash or out-of-memory kill takes down only the child). The parent polls ``poll()`` from a
timer; ``cancel()`` sets an Event the child checks before every step.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector_app.errors import DetectorAppError
from detector_app.training.events import RunFailed, RunFinished, TrainEvent, TrainResult
from detector_app.training.settings import TrainSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    project_path: Path
    settings: dict[str, Any] | None
    resume_run: int | None
    epochs: int | None


def _child_main(job: _Job, events: Any, cancel: Any) -> None:
    """Runs in the child process: one train or resume call, every outcome sent as an event."""
    try:
        # Imported here, in the child only: the GUI process that starts the run never loads torch for it.
        from detector_app.storage import Project
        from detector_app.training.run import resume, train

        with Project.open(job.project_path, create=False) as project:
            if job.resume_run is not None:
                resume(project, job.resume_run, progress=events.put, cancel=cancel, epochs=job.epochs)
            else:
                assert job.settings is not None
                train(project, TrainSettings.from_dict(job.settings), progress=events.put, cancel=cancel)
    except DetectorAppError as exc:
        events.put(RunFailed(str(exc)))
    except BaseException as exc:  # the parent must hear about every way the child can end
        traceback.print_exc()
        events.put(RunFailed(f"training crashed: {type(exc).__name__}: {exc}"))


class TrainingRunner:
    """Start, watch and cancel one run. Not thread-safe: use it from one (the GUI) thread."""

    def __init__(self, project_path: Path, settings: TrainSettings | None = None, *,
                 resume_run: int | None = None, epochs: int | None = None) -> None:
        if settings is None and resume_run is None:
            raise ValueError("give settings for a new run or resume_run to continue one")
        self._ctx = mp.get_context("spawn")
        self._job = _Job(Path(project_path), settings.to_dict() if settings else None, resume_run, epochs)
        self._events: Any = self._ctx.Queue()
        self._cancel = self._ctx.Event()
        self._process: mp.process.BaseProcess | None = None
        self.result: TrainResult | None = None
        self.error: str | None = None

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("this runner was already started")
        self._process = self._ctx.Process(target=_child_main, args=(self._job, self._events, self._cancel),
                                          name="detector-training", daemon=True)
        self._process.start()

    def cancel(self) -> None:
        """Ask the run to stop before its next step; its last epoch checkpoint stays."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def finished(self) -> bool:
        """The run ended and its last event was read."""
        return self.result is not None or self.error is not None

    def poll(self, max_events: int = 500) -> list[TrainEvent]:
        """Events received so far, without blocking. Ends with ``RunFailed`` if the child died silently."""
        out: list[TrainEvent] = []
        for _ in range(max_events):
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            self._note(event)
            out.append(event)
        if not out and not self.finished and self._process is not None and not self._process.is_alive():
            out.extend(self._drain_after_exit())
        return out

    def _drain_after_exit(self) -> list[TrainEvent]:
        # The child may have exited just after its last put: read what is left before declaring it lost.
        out: list[TrainEvent] = []
        try:
            while True:
                event = self._events.get(timeout=0.2)
                self._note(event)
                out.append(event)
        except queue.Empty:
            pass
        if not self.finished:
            code = self._process.exitcode if self._process else None
            failed = RunFailed(f"the training process ended unexpectedly (exit code {code})")
            self._note(failed)
            out.append(failed)
        return out

    def _note(self, event: TrainEvent) -> None:
        if isinstance(event, RunFinished):
            self.result = event.result
        elif isinstance(event, RunFailed):
            self.error = event.message

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the child to exit (reading its events meanwhile); True when it has."""
        if self._process is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._process.is_alive():
            self.poll()
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._process.join(0.05)
        return True

    def stop(self, grace_s: float = 10.0) -> None:
        """Cancel and wait; terminate the child if it does not stop within ``grace_s``."""
        self.cancel()
        if not self.join(grace_s) and self._process is not None:
            log.warning("training process did not stop within %.0f s; terminating it", grace_s)
            self._process.terminate()
            self._process.join(5)
