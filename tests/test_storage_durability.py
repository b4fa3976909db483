"""Durability: SIGKILL a process in the middle of a stream of edits; every edit it reported is there."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from detector_app.storage import Project

CHILD = Path(__file__).with_name("storage_edit_child.py")
BULK = 50


@dataclass
class Expected:
    """The state every reported (committed) edit adds up to, plus the one edit in flight at the kill."""

    rows: dict[int, Any] = field(default_factory=dict)  # annotation id -> [bbox, category, status] or None
    bulk_boxes: int = 0
    in_flight: dict[str, Any] | None = None
    done: int = 0

    def apply(self, message: dict[str, Any]) -> None:
        if "begin" in message:
            self.in_flight = message
            return
        if message.get("count"):
            self.bulk_boxes += message["count"]
        else:
            self.rows[message["id"]] = message["after"]
        self.in_flight = None
        self.done += 1


def run_child_and_kill(project_dir: Path, seed: int, kill_after: int, kill_on: str) -> tuple[list[dict], str]:
    """Start the child, SIGKILL it once ``kill_after`` edits are reported and a ``kill_on`` edit begins."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(CHILD), str(project_dir), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    messages: list[dict] = []
    try:
        done = 0
        for line in proc.stdout:  # type: ignore[union-attr]
            message = json.loads(line)
            messages.append(message)
            done += "done" in message
            if done >= kill_after and "begin" in message and kill_on in ("any", message["op"]):
                os.kill(proc.pid, signal.SIGKILL)
                break
        else:
            pytest.fail(f"child stopped by itself: {proc.stderr.read()}")  # type: ignore[union-attr]
        rest, err = proc.communicate(timeout=60)  # lines already in the pipe were written before the kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    messages += [json.loads(line) for line in rest.splitlines() if line.strip()]
    return messages, err


def check(project_dir: Path, messages: list[dict]) -> Expected:
    ready, expected = messages[0], Expected()
    for message in messages[1:]:
        expected.apply(message)
    with sqlite3.connect(project_dir / "project.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with Project.open(project_dir, create=False) as project:
        rows = {a.id: [list(a.bbox), a.category_name, a.status]
                for a in project.repo.annotations_for_image(ready["edit_image"])}
        bulk = len(project.repo.annotations_for_image(ready["bulk_image"]))
    flight = expected.in_flight or {}
    # A batch of predictions is all or nothing.
    assert bulk in ((expected.bulk_boxes, expected.bulk_boxes + BULK) if flight.get("op") == "bulk"
                    else (expected.bulk_boxes,))
    for ann_id, want in expected.rows.items():
        if ann_id == flight.get("id"):
            assert rows.get(ann_id) in (want, flight["after"]), f"in-flight edit of {ann_id} half applied"
        else:
            assert rows.get(ann_id) == want, f"annotation {ann_id}: committed edit lost"
    extra = {i: r for i, r in rows.items() if i not in expected.rows}
    if flight.get("op") == "add":
        assert list(extra.values()) in ([], [flight["after"]])
    else:
        assert extra == {}
    return expected


@pytest.mark.parametrize(("seed", "kill_after", "kill_on"), [(1, 150, "any"), (2, 60, "bulk"), (3, 250, "update")])
def test_sigkill_mid_stream_loses_no_reported_edit(project_dir: Path, seed: int, kill_after: int,
                                                   kill_on: str) -> None:
    messages, err = run_child_and_kill(project_dir, seed, kill_after, kill_on)
    expected = check(project_dir, messages)
    assert expected.done >= kill_after, err
