"""Several annotators on one project: who edits, the optimistic check every box edit passes, "next image for
me", the cheap markers other clients poll to see changes, and counts per annotator.

Optimistic edits: every change to a box bumps ``annotations.revision``. A client that loaded a box at revision
``r`` edits it with ``UPDATE ... WHERE id = :id AND revision = :r``; no row updated means someone changed (or
deleted) it since, and the edit is refused with ``StaleEditError`` (``guard_annotation``, the one place).
The image row is locked first (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
writers): edits of one image run one after another, so the review rule sees the others' committed boxes, and
every edit takes its locks in the same order (image, then box), which leaves no room for a deadlock.

Every other write that changes box rows (class merges and their undo, video edits) writes the same bookkeeping
with ``edit_marks`` / ``mark_edited``, after ``lock_images_of`` for bulk changes, so that a copy loaded before
it is stale too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from detector_app.core.names import printable
from detector_app.errors import StaleEditError, StorageError
from detector_app.storage.identity import annotator_name, check_annotator
from detector_app.storage.image_store import CHUNK, ImageStore
from detector_app.storage.models import Annotation, Image, utcnow
from detector_app.storage.records import AnnotationRecord, ImageRecord

CLAIM_TIMEOUT = timedelta(minutes=30)  # a claim older than this is free again (its holder went home)
BOX_DELETED = "this box was deleted by someone else since you loaded it; reloaded"


@dataclass(frozen=True)
class AnnotatorCounts:
    """What one person did: boxes whose latest change is theirs, images they marked reviewed."""

    boxes_edited: int = 0
    images_reviewed: int = 0


def lock_image(s: Session, image_id: int) -> None:
    """Hold the image row for this transaction (PostgreSQL ``FOR NO KEY UPDATE``: boxes can still be inserted
    for it; SQLite: nothing to do, the transaction is the only writer); every box edit takes it first."""
    if s.scalar(select(Image.id).where(Image.id == image_id).with_for_update(key_share=True)) is None:
        raise StorageError(f"image {image_id} is not in the project")


def edit_marks(annotator: str) -> dict[str, Any]:
    """THE bookkeeping of a change to a box row, as ``UPDATE ... SET`` values: the revision goes up (in SQL, so
    two writers never both write the same number) and the author is recorded."""
    return {"revision": Annotation.revision + 1, "updated_by": annotator}


def mark_edited(ann: Annotation, annotator: str) -> None:
    """``edit_marks`` on an ORM row that is changed in this transaction (flushed with its other changes;
    ``ann.revision`` reads the new number back). A row not yet inserted starts at revision 1."""
    if ann.id is None or inspect(ann).pending:
        ann.revision, ann.updated_by = 1, annotator
        return
    for name, value in edit_marks(annotator).items():
        setattr(ann, name, value)


def lock_images_of(s: Session, boxes: ColumnElement[bool]) -> None:
    """Before a bulk change of the boxes matching ``boxes``: lock their images (image, then box, as every edit
    does), so that it waits for box edits in progress on them instead of deadlocking with one."""
    lock_images(s, s.scalars(select(Annotation.image_id).where(boxes).distinct()))


def lock_images(s: Session, image_ids: Iterable[int]) -> None:
    """``lock_image`` for many images, in ascending id order (two bulk changes then never wait on each other
    in a circle); ids no longer in the project are passed over."""
    ids = sorted(set(image_ids))
    for start in range(0, len(ids), CHUNK):
        s.execute(select(Image.id).where(Image.id.in_(ids[start:start + CHUNK])).order_by(Image.id)
                  .with_for_update(key_share=True))


def guard_annotation(s: Session, annotation_id: int, loaded: int | None, annotator: str) -> Annotation:
    """Inside an edit's transaction: lock the box's image, then bump the box's revision and author, but only if
    it is still at revision ``loaded`` (None: no check, the caller holds no copy). Returns the locked row.

    Raises ``StaleEditError`` when the box changed or went since ``loaded``; ``StorageError`` when a box the
    caller holds no copy of does not exist. Nothing is written in either case."""
    image_id = s.scalar(select(Annotation.image_id).where(Annotation.id == annotation_id))
    if image_id is None:
        if loaded is not None:
            raise StaleEditError(BOX_DELETED)
        raise StorageError(f"annotation {annotation_id} is not in the project")
    lock_image(s, image_id)
    query = update(Annotation).where(Annotation.id == annotation_id)
    if loaded is not None:
        query = query.where(Annotation.revision == loaded)
    bumped = s.execute(query.values(**edit_marks(annotator))
                       .execution_options(synchronize_session=False))
    if bumped.rowcount != 1:  # type: ignore[attr-defined]
        now = s.execute(select(Annotation.revision, Annotation.updated_by).where(Annotation.id == annotation_id))
        row = now.first()
        if row is None:
            raise StaleEditError(BOX_DELETED)
        raise StaleEditError(f"this box was changed by {printable(row.updated_by or 'someone else')} since you "
                             f"loaded it (revision {loaded}, now {row.revision}); reloaded")
    ann = s.get(Annotation, annotation_id, populate_existing=True)
    assert ann is not None  # locked by the update above
    return ann


def restore_target(s: Session, annotation_id: int, snapshot_revision: int, loaded: int | None,
                   annotator: str) -> Annotation:
    """The row an undo/redo writes a snapshot into: the existing box, guarded like any edit (``loaded``: the
    revision the undo stack last saw; a box someone changed since is refused), or a new row under the old id
    when the box is gone and nobody expected it (undoing a delete), at a revision above the snapshot's so that
    a copy loaded before the delete stays stale."""
    if loaded is None and s.get(Annotation, annotation_id) is None:
        return Annotation(id=annotation_id, revision=snapshot_revision + 1, updated_by=annotator)
    return guard_annotation(s, annotation_id, loaded, annotator)


def boxes_marker(boxes: Iterable[AnnotationRecord]) -> tuple[int, int, int]:
    """What changes whenever a box of an image is added, changed (its revision goes up) or deleted: count, sum of
    revisions, highest id. A view computes it from the boxes it loaded and compares it with ``image_marker``."""
    listed = list(boxes)
    return len(listed), sum(b.revision for b in listed), max((b.id for b in listed), default=0)


class TeamStore(ImageStore):
    """The annotator of this client, claims and change markers; ``Repository`` builds on it."""

    _annotator: str | None = None

    @property
    def annotator(self) -> str:
        """Recorded with every edit: set it from the CLI's ``--annotator`` or the GUI's settings; by default
        ``$DETECTOR_APP_ANNOTATOR`` or the OS user (``storage/identity.py``)."""
        if self._annotator is None:
            self._annotator = annotator_name()
        return self._annotator

    @annotator.setter
    def annotator(self, name: str) -> None:
        self._annotator = annotator_name(name)

    _written: dict[int, int | None] | None = None

    @property
    def written_revisions(self) -> dict[int, int | None]:
        """Box id -> the revision this client last wrote (None: it deleted the box): the revision its undo and
        redo expect the box at (review/edits.Reviewer keeps it up to date; class merges and their undo add
        the boxes they moved), so that this person's own class edit does not make their box undo stale."""
        if self._written is None:
            self._written = {}
        return self._written

    def wrote(self, revisions: dict[int, int]) -> None:
        """Boxes this client changed outside the Reviewer (committed) at their new revisions: followed where
        this client's last write is the revision just before, i.e. nobody else changed the box in between (a
        bulk change does not check, and must not make someone else's edit this person's to undo)."""
        written = self.written_revisions
        for box_id, revision in revisions.items():
            if written.get(box_id) == revision - 1:
                written[box_id] = revision

    # --- next image for me ------------------------------------------------------------------------

    def claim_next_image(self, annotator: str | None = None, order: Sequence[int] | None = None,
                         timeout: timedelta = CLAIM_TIMEOUT) -> ImageRecord | None:
        """Hand ``annotator`` (default: this client's) the first unreviewed image nobody holds, in ``order`` (image
        ids, e.g. the review queue's; then by id), and hold it for them, in one transaction: PostgreSQL
        skips rows another client is claiming (``FOR UPDATE SKIP LOCKED``), SQLite has one writer. The person's
        earlier claims are let go. None when every unreviewed image is taken."""
        who = check_annotator(annotator) if annotator is not None else self.annotator
        now = utcnow()
        free = and_(Image.reviewed_at.is_(None),
                    or_(Image.claimed_by.is_(None), Image.claimed_at.is_(None), Image.claimed_at < now - timeout),
                    or_(Image.claimed_by.is_(None), Image.claimed_by != who))
        with self.transaction() as s:
            image_id = _first_free(s, free, order)
            s.execute(update(Image).where(Image.claimed_by == who).values(claimed_by=None, claimed_at=None))
            if image_id is None:
                return None
            s.execute(update(Image).where(Image.id == image_id).values(claimed_by=who, claimed_at=now))
        return self.get_image(image_id)

    def release_claims(self, annotator: str | None = None) -> int:
        """Let go of every image ``annotator`` holds (closing the project); returns how many."""
        who = check_annotator(annotator) if annotator is not None else self.annotator
        with self.transaction() as s:
            done = s.execute(update(Image).where(Image.claimed_by == who).values(claimed_by=None, claimed_at=None))
            return int(done.rowcount)  # type: ignore[attr-defined]

    def claimed_by(self, image_id: int) -> str | None:
        with self._connect() as conn:
            return conn.scalar(select(Image.claimed_by).where(Image.id == image_id))

    # --- what changed (polled by the GUI) ---------------------------------------------------------

    def image_marker(self, image_id: int) -> tuple[int, int, int]:
        """``boxes_marker`` of the image's boxes as stored now, from one small aggregate (an index lookup)."""
        boxes = select(func.count(Annotation.id), func.coalesce(func.sum(Annotation.revision), 0),
                       func.coalesce(func.max(Annotation.id), 0)).where(Annotation.image_id == image_id)
        with self._connect() as conn:
            count, revisions, last = conn.execute(boxes).one()
        return int(count), int(revisions), int(last)

    def project_marker(self) -> tuple[Any, ...]:
        """Changes when images are added, reviewed or unreviewed, or boxes added or deleted (the image list's
        counts and marks); edits inside one image are ``image_marker``'s business."""
        with self._connect() as conn:
            images = conn.execute(select(func.count(Image.id), func.count(Image.reviewed_at),
                                         func.max(Image.reviewed_at))).one()
            boxes = conn.execute(select(func.count(Annotation.id), func.coalesce(func.max(Annotation.id), 0))).one()
        return (*tuple(images), *tuple(boxes))

    # --- counts -----------------------------------------------------------------------------------

    def annotator_counts(self) -> dict[str, AnnotatorCounts]:
        """Per annotator: boxes whose latest change is theirs and images they marked reviewed, by name."""
        with self._connect() as conn:
            boxes = dict(conn.execute(select(Annotation.updated_by, func.count(Annotation.id))
                                      .where(Annotation.updated_by.is_not(None)).group_by(Annotation.updated_by)).all())
            images = dict(conn.execute(select(Image.reviewed_by, func.count(Image.id))
                                       .where(Image.reviewed_by.is_not(None), Image.reviewed_at.is_not(None))
                                       .group_by(Image.reviewed_by)).all())
        return {name: AnnotatorCounts(int(boxes.get(name, 0)), int(images.get(name, 0)))
                for name in sorted(set(boxes) | set(images))}


def _first_free(s: Session, free: Any, order: Sequence[int] | None) -> int | None:
    """The first free image in ``order``, else the first by id, locked for this transaction; images another
    transaction has locked are skipped."""
    lock = {"skip_locked": True, "key_share": True}
    ids = list(dict.fromkeys(int(i) for i in order or ()))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        rank = case({image_id: n for n, image_id in enumerate(chunk)}, value=Image.id)
        found = s.scalar(select(Image.id).where(free, Image.id.in_(chunk)).order_by(rank).limit(1)
                         .with_for_update(**lock))
        if found is not None:
            return int(found)
    # None in the order is free (or it was made before images were added since): any free one, by id.
    return s.scalar(select(Image.id).where(free).order_by(Image.id).limit(1).with_for_update(**lock))
