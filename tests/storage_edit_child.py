"""Child process for the durability test: an endless stream of edits on one project.

Before each edit it prints ``{"begin": step, "op": ..., "id": ..., "after": row}`` with the row the edit will
produce (None: deleted); once the repository call has returned, i.e. the transaction is committed, it prints
``{"done": step, "id": ...}``. The parent SIGKILLs it somewhere in the stream.

Usage: python storage_edit_child.py PROJECT_DIR SEED
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

import numpy as np

from detector_app.core.detections import Detections
from detector_app.storage import Project
from detector_app.storage.records import AnnotationRecord
from detector_app.storage.repository import Repository

NAMES = ("cat", "dog", "bird")
BULK = 50
OPS = ("add", "add", "update", "status", "relabel", "delete", "restore", "bulk")


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def row(ann: AnnotationRecord) -> list[Any]:
    return [list(ann.bbox), ann.category_name, ann.status]


class Editor:
    def __init__(self, repo: Repository, seed: int) -> None:
        self.repo, self.rng = repo, random.Random(seed)
        frame = np.zeros((100, 100, 3), np.uint8)
        self.edit_image = repo.add_frame(frame, origin="webcam").id
        self.bulk_image = repo.add_frame(frame, origin="webcam").id
        self.live: dict[int, AnnotationRecord] = {}
        self.deleted: dict[int, AnnotationRecord] = {}

    def box(self) -> list[float]:
        r = self.rng
        return [r.uniform(0, 50), r.uniform(0, 50), r.uniform(1, 30), r.uniform(1, 30)]

    def step(self, n: int) -> None:
        op = self.rng.choice(OPS)
        if not self.live and op != "bulk":
            op = "add"
        if op == "restore" and not self.deleted:
            op = "relabel"
        getattr(self, op)(n)

    def add(self, n: int) -> None:
        bbox, name = self.box(), self.rng.choice(NAMES)
        say(begin=n, op="add", id=None, after=[bbox, name, "accepted"])
        ann = self.repo.add_annotation(self.edit_image, name, bbox)
        self.live[ann.id] = ann
        say(done=n, id=ann.id, after=row(ann))

    def bulk(self, n: int) -> None:
        say(begin=n, op="bulk", id=None, after=None)
        boxes = np.array([[i, i, i + 5, i + 5] for i in range(BULK)], np.float32)
        dets = Detections(boxes, np.full(BULK, 0.5), np.ones(BULK, np.int64), ("__background__", "cat"))
        self.repo.add_predictions(self.bulk_image, dets)
        say(done=n, id=None, count=BULK)

    def _change(self, n: int, op: str, after: list[Any], call: Any) -> None:
        ann_id = self.rng.choice(sorted(self.live))
        old = self.live[ann_id]
        after = [after[0] or list(old.bbox), after[1] or old.category_name, after[2] or old.status]
        say(begin=n, op=op, id=ann_id, after=after)
        self.live[ann_id] = call(ann_id)
        say(done=n, id=ann_id, after=row(self.live[ann_id]))

    def update(self, n: int) -> None:
        bbox = self.box()
        self._change(n, "update", [bbox, None, None], lambda i: self.repo.update_bbox(i, bbox))

    def status(self, n: int) -> None:
        status = self.rng.choice(["accepted", "rejected"])
        self._change(n, "status", [None, None, status], lambda i: self.repo.set_status(i, status))

    def relabel(self, n: int) -> None:
        name = self.rng.choice(NAMES)
        self._change(n, "relabel", [None, name, None], lambda i: self.repo.set_category(i, name))

    def delete(self, n: int) -> None:
        ann_id = self.rng.choice(sorted(self.live))
        say(begin=n, op="delete", id=ann_id, after=None)
        self.deleted[ann_id] = self.repo.delete_annotation(ann_id)
        del self.live[ann_id]
        say(done=n, id=ann_id, after=None)

    def restore(self, n: int) -> None:
        ann_id = self.rng.choice(sorted(self.deleted))
        snapshot = self.deleted.pop(ann_id)
        say(begin=n, op="restore", id=ann_id, after=row(snapshot))
        self.live[ann_id] = self.repo.restore_annotation(snapshot)
        say(done=n, id=ann_id, after=row(self.live[ann_id]))


def main(project_dir: str, seed: int) -> None:
    editor = Editor(Project.open(project_dir).repo, seed)
    say(ready=0, edit_image=editor.edit_image, bulk_image=editor.bulk_image)
    n = 0
    while True:
        n += 1
        editor.step(n)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
