"""The background runner: a spawned process whose every ending reaches the parent as an event."""

from __future__ import annotations

import time
from pathlib import Path

from detector_app.storage import Project
from detector_app.training.background import TrainingRunner
from detector_app.training.events import RunFailed, RunFinished, RunStarted, StepDone
from detector_app.training.settings import TrainSettings

from .synthetic_shapes import make_shapes_dataset, store_in_project


def _events_until_done(runner: TrainingRunner, timeout_s: float = 120.0) -> list[object]:
    events: list[object] = []
    deadline = time.monotonic() + timeout_s
    while not runner.finished and time.monotonic() < deadline:
        events.extend(runner.poll())
        time.sleep(0.05)
    assert runner.join(10.0)
    return events


def test_a_problem_in_the_child_arrives_as_one_clear_message(project_dir: Path) -> None:
    Project.open(project_dir).close()
    runner = TrainingRunner(project_dir, TrainSettings(parent="scratch", size=64, threads=1))
    runner.start()
    events = _events_until_done(runner)
    assert [type(e) for e in events] == [RunFailed]
    assert runner.error is not None and runner.error.startswith("no reviewed images to train on")
    assert not runner.running


def test_a_run_streams_progress_and_registers_a_version(project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        store_in_project(project.repo, make_shapes_dataset(8, seed=1, out_dir=project.path / "i", size=64))
    runner = TrainingRunner(project_dir, TrainSettings(parent="scratch", size=64, epochs=1, batch_size=4,
                                                       threads=1, val_share=0.25))
    runner.start()
    events = _events_until_done(runner)
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, StepDone) for e in events) == 2
    assert runner.result is not None and runner.result.status == "finished"
    with Project.open(project_dir, create=False) as project:
        assert project.repo.get_model_version(runner.result.version_id).weights_path.is_file()
