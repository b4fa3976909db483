"""Each user action is one committed repository change plus the snapshots to undo and redo it.

Undo and redo only ever write snapshots back (``restore_annotation``) or delete what an action
created, so every edit kind shares one tested code path, whatever image is on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from detector_app.core.labels import Origin, Status
from detector_app.errors import StaleEditError, StorageError
from detector_app.storage.categories import ClassState
from detector_app.storage.records import AnnotationRecord
from detector_app.storage.repository import Repository
from detector_app.storage.team import BOX_DELETED

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Edit:
    """``before[i]``/``after[i]`` describe one annotation; None means it does not exist on that side."""

    text: str
    image_id: int
    before: tuple[AnnotationRecord | None, ...]
    after: tuple[AnnotationRecord | None, ...]


class Reviewer:
    """Edits of one person. ``revision`` is the box's revision the person saw (the view's copy): a box someone
    else changed since is refused with ``StaleEditError`` (None: the revision read just before the edit).

    Undo and redo expect each box at the revision this client last wrote (``revision_of``; class merges and
    their undo count too): a box someone else changed after that is refused, never overwritten; one this person
    changed again is theirs to undo."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        # Box id -> the revision this client last wrote (None: deleted), shared with its class edits.
        self._written = repo.written_revisions

    def revision_of(self, box: AnnotationRecord) -> int:
        """The revision undo/redo expect ``box`` at: the one this reviewer last wrote, else the record's."""
        return self._written.get(box.id) or box.revision

    def _get(self, ann_id: int, revision: int | None) -> tuple[AnnotationRecord, int]:
        try:
            before = self.repo.get_annotation(ann_id)
        except StorageError:
            if revision is None:
                raise
            raise StaleEditError(BOX_DELETED) from None  # the person's copy outlived the box
        return before, before.revision if revision is None else revision

    def _wrote(self, edit: Edit) -> Edit:
        for before, after in zip(edit.before, edit.after, strict=True):
            if after is not None:
                self._written[after.id] = after.revision
            elif before is not None:
                self._written[before.id] = None
        return edit

    def move(self, ann_id: int, bbox: BBox, revision: int | None = None) -> Edit:
        before, loaded = self._get(ann_id, revision)
        after = self.repo.update_bbox(ann_id, clamp_bbox(bbox, *self._image_size(before.image_id)), loaded)
        return self._wrote(Edit("Move box", before.image_id, (before,), (after,)))

    def draw(self, image_id: int, category: str | int, bbox: BBox) -> Edit:
        bbox = clamp_bbox(bbox, *self._image_size(image_id))
        after = self.repo.add_annotation(image_id, category, bbox, origin=Origin.HUMAN, status=Status.ACCEPTED)
        return self._wrote(Edit("Draw box", image_id, (None,), (after,)))

    def relabel(self, ann_id: int, category: str | int, revision: int | None = None) -> Edit:
        before, loaded = self._get(ann_id, revision)
        after = self.repo.set_category(ann_id, category, loaded)
        return self._wrote(Edit("Change class", before.image_id, (before,), (after,)))

    def accept(self, ann_id: int, revision: int | None = None) -> Edit:
        before, loaded = self._get(ann_id, revision)
        after = self.repo.set_status(ann_id, Status.ACCEPTED, loaded)
        return self._wrote(Edit("Accept box", before.image_id, (before,), (after,)))

    def reject(self, ann_id: int, revision: int | None = None) -> Edit:
        before, loaded = self._get(ann_id, revision)
        after = self.repo.set_status(ann_id, Status.REJECTED, loaded)
        return self._wrote(Edit("Reject box", before.image_id, (before,), (after,)))

    def delete(self, ann_id: int, revision: int | None = None) -> Edit:
        before = self.repo.delete_annotation(ann_id, revision)
        return self._wrote(Edit("Delete box", before.image_id, (before,), (None,)))

    def accept_all(self, image_id: int, min_score: float = 0.0) -> Edit:
        """Accept every prediction on the image whose score reaches ``min_score`` (what is on screen)."""
        pending = [a for a in self.repo.annotations_for_image(image_id)
                   if a.status == Status.PREDICTED and (a.score is None or a.score >= min_score)]
        after = tuple(self.repo.set_status(a.id, Status.ACCEPTED, a.revision) for a in pending)
        if not pending:
            self.repo.mark_reviewed(image_id)
        return self._wrote(Edit("Accept all", image_id, tuple(pending), after))

    def undo(self, edit: Edit) -> Edit:
        """Write ``edit.before`` back; returns the edit with that side as now stored."""
        return replace(edit, before=self._apply(edit.after, edit.before))

    def redo(self, edit: Edit) -> Edit:
        return replace(edit, after=self._apply(edit.before, edit.after))

    def _apply(self, current: Sequence[AnnotationRecord | None],
               target: Sequence[AnnotationRecord | None]) -> tuple[AnnotationRecord | None, ...]:
        """Each box from ``current`` (as this person left it) to ``target``. A box someone else changed or deleted
        since is refused (``StaleEditError``), never overwritten; boxes of the edit before it stay written."""
        done: list[AnnotationRecord | None] = []
        for now, wanted in zip(current, target, strict=True):
            if wanted is None:
                if now is not None:
                    self.repo.delete_annotation(now.id, self.revision_of(now))
                    self._written[now.id] = None
                done.append(None)
            else:
                restored = self.repo.restore_annotation(wanted, None if now is None else self.revision_of(now))
                self._written[restored.id] = restored.revision
                done.append(restored)
        return tuple(done)

    def _image_size(self, image_id: int) -> tuple[int, int]:
        image = self.repo.get_image(image_id)
        return image.width, image.height


@dataclass(frozen=True)
class ClassEdit:
    """A change to the class list: the touched rows (and moved boxes) before and after it."""

    text: str
    before: ClassState
    after: ClassState


class ClassEditor:
    """Add, rename, merge, delete, reorder and recolour classes; each one committed change, undoable."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def add(self, name: str, color: str | None = None) -> ClassEdit:
        created = self.repo.add_category(name, color)
        return ClassEdit(f"Add class {created.name}", ClassState(((created.id, None),)),
                         self.repo.class_state([created.id]))

    def rename(self, category_id: int, name: str) -> ClassEdit:
        return self._change(f"Rename class to {name.strip()}", [category_id], (),
                            lambda: self.repo.rename_category(category_id, name))

    def recolor(self, category_id: int, color: str) -> ClassEdit:
        return self._change("Change class colour", [category_id], (),
                            lambda: self.repo.set_category_color(category_id, color))

    def merge(self, source_id: int, target_id: int) -> ClassEdit:
        """The boxes of ``source`` become boxes of ``target``; ``source`` goes (undo brings both back)."""
        before = self.repo.class_state([source_id, target_id], boxes_of=[source_id])
        self.repo.merge_categories(source_id, target_id)
        after = self.repo.class_state([source_id, target_id])
        moved = tuple((annotation_id, target_id) for annotation_id, _ in before.boxes)
        proposals = tuple((annotation_id, target_id) for annotation_id, _ in before.proposals)
        return ClassEdit("Merge classes", before, ClassState(after.rows, moved, proposals))

    def delete(self, category_id: int) -> ClassEdit:
        return self._change("Delete class", [category_id], (), lambda: self.repo.delete_category(category_id))

    def reorder(self, category_ids: Sequence[int]) -> ClassEdit:
        every = [c.id for c in self.repo.categories()]
        return self._change("Reorder classes", every, (), lambda: self.repo.set_category_order(category_ids))

    def undo(self, edit: ClassEdit) -> None:
        self.repo.restore_class_state(edit.before)

    def redo(self, edit: ClassEdit) -> None:
        self.repo.restore_class_state(edit.after)

    def _change(self, text: str, ids: Sequence[int], boxes_of: Sequence[int], action: Callable[[], object]) -> ClassEdit:
        before = self.repo.class_state(ids, boxes_of)
        action()
        return ClassEdit(text, before, self.repo.class_state(ids, boxes_of))


def clamp_bbox(bbox: BBox, width: float, height: float) -> BBox:
    """Clip an (x, y, w, h) box to the image; keeps at least one pixel of size."""
    x1 = min(max(bbox[0], 0.0), width - 1.0)
    y1 = min(max(bbox[1], 0.0), height - 1.0)
    x2 = min(max(bbox[0] + bbox[2], x1 + 1.0), float(width))
    y2 = min(max(bbox[1] + bbox[3], y1 + 1.0), float(height))
    return (x1, y1, x2 - x1, y2 - y1)
