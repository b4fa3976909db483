"""Category rows and the class list a person manages: add, rename, merge, delete, reorder, recolour.

A class keeps its COCO id for life (exports give it back); the order the user sees is ``position`` (NULL
sorts after the others, by COCO id). Every edit is one transaction; ``class_state``/``restore_class_state``
snapshot and write back the rows an edit touched, which is how undo and redo work (review/edits.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, case, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from detector_app.core.labels import BACKGROUND, STATUSES
from detector_app.core.names import check_name, printable
from detector_app.core.palette import class_color_hex, hex_to_rgb
from detector_app.errors import StorageError
from detector_app.storage.image_store import CHUNK, ImageStore
from detector_app.storage.models import Annotation, Category
from detector_app.storage.records import CategoryRecord
from detector_app.storage.team import edit_marks, lock_images, lock_images_of

# The user's order: positioned classes first, then the rest by COCO id (a new class goes last).
CATEGORY_ORDER = (Category.position.is_(None), Category.position, Category.coco_id)
_CREATE_TRIES = 3  # under the class list's lock a lost race is a client without it (an older version)
_CLASS_LIST_LOCK_KEY = 0x636C6173736573  # "classes"


def ensure_category_row(s: Session, name: str, coco_id: int | None, color: str | None,
                        supercategory: str) -> Category:
    """The class called ``name``, created when missing with ``coco_id`` when still free (else the next free one).

    Safe against other clients creating classes at the same moment (PostgreSQL): creating one takes the class
    list's lock (held to the end of the transaction, so creators of classes go one after another: two of them
    each waiting for a name or a COCO id the other inserted would be a deadlock), reads again, and inserts with
    ``ON CONFLICT DO NOTHING``, reading back what won. A transaction creates its classes before it locks any
    image (storage/team.py): the lock order is the class list, then images, then boxes.
    """
    name = name.strip()
    if not name or name == BACKGROUND:
        raise StorageError(f"{name!r} cannot be a class name")
    category = s.scalars(select(Category).where(Category.name == name)).first()
    if category is not None:
        return category
    lock_class_list(s)
    for _ in range(_CREATE_TRIES):
        category = s.scalars(select(Category).where(Category.name == name)).first()
        if category is not None:
            return category
        taken = coco_id is None or coco_id <= 0 or s.scalar(select(Category.id).where(Category.coco_id == coco_id))
        if taken:
            coco_id = int(s.scalar(select(func.coalesce(func.max(Category.coco_id), 0))) or 0) + 1
        insert = dialect_insert(s)(Category).values(name=name, coco_id=coco_id, color=color or class_color_hex(name),
                                                    supercategory=supercategory or "")
        created = s.scalar(insert.on_conflict_do_nothing().returning(Category.id))
        if created is not None:
            category = s.get(Category, created)
            assert category is not None  # inserted just now, in this transaction
            return category
        coco_id = None  # lost a race: the name is read back above, a taken COCO id makes room for the next
    raise StorageError(f"could not add the class {printable(name)}: other clients kept taking its id; try again")


def lock_class_list(s: Session) -> None:
    """Hold the right to add classes until this transaction ends (PostgreSQL; SQLite has one writer)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLASS_LIST_LOCK_KEY})


def dialect_insert(s: Session) -> Any:
    """The INSERT construct of the session's database, which has ``on_conflict_do_nothing`` on both backends."""
    return postgresql_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


def category_record(c: Category) -> CategoryRecord:
    return CategoryRecord(id=c.id, name=c.name, coco_id=c.coco_id, color=c.color, supercategory=c.supercategory)


@dataclass(frozen=True)
class ClassRow:
    """One category row as stored, its place in the list included."""

    id: int
    name: str
    coco_id: int
    color: str
    supercategory: str
    position: int | None


@dataclass(frozen=True)
class ClassState:
    """The rows an edit touched (None: the class does not exist) and the class of the boxes it moved."""

    rows: tuple[tuple[int, ClassRow | None], ...]
    boxes: tuple[tuple[int, int], ...] = ()  # (annotation id, category id)
    proposals: tuple[tuple[int, int], ...] = ()  # (annotation id, proposal category id): a merge remaps them too


def check_color(color: str) -> str:
    if hex_to_rgb(color) is None or not color.startswith("#"):
        raise StorageError(f"a class colour is written #rrggbb, got {printable(color)}")
    return color.lower()


class CategoryStore(ImageStore):
    """The class list; ``Repository`` adds annotations on top."""

    def category_boxes(self, category_id: int) -> dict[str, int]:
        """How many boxes of the class there are, per review status (zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        query = (select(Annotation.status, func.count(Annotation.id)).where(Annotation.category_id == category_id)
                 .group_by(Annotation.status))
        with self.reading() as s:
            _row(s, category_id)
            for status, n in s.execute(query):
                counts[status] = int(n)
        return counts

    def add_category(self, name: str, color: str | None = None) -> CategoryRecord:
        """A new, empty class at the end of the list; its COCO id is the next free one."""
        name = check_name(name)
        with self.transaction() as s:
            if s.scalar(select(Category.id).where(Category.name == name)) is not None:
                raise StorageError(f"a class named {printable(name)} already exists")
            return category_record(ensure_category_row(s, name, None, check_color(color) if color else None, ""))

    def rename_category(self, category_id: int, name: str) -> CategoryRecord:
        name = check_name(name)
        with self.transaction() as s:
            category = _row(s, category_id)
            taken = f"a class named {printable(name)} already exists: merge the two classes instead"
            if _name_taken(s, name, category_id):
                raise StorageError(taken)
            category.name = name
            try:
                s.flush()
            except IntegrityError:  # another client gave a class this name since the check (PostgreSQL)
                raise StorageError(taken) from None
            return category_record(category)

    def merge_categories(self, source_id: int, target_id: int) -> int:
        """Every box of ``source`` becomes a box of ``target`` (statuses kept); ``source`` goes. Returns the count."""
        if source_id == target_id:
            raise StorageError("a class cannot be merged into itself")
        with self.transaction() as s:
            _row(s, source_id), _row(s, target_id)
            of_source = or_(Annotation.category_id == source_id, Annotation.proposal_category_id == source_id)
            lock_images_of(s, of_source)
            marks = edit_marks(self.annotator)  # type: ignore[attr-defined]  (TeamStore's: a Repository is one)
            moved = int(s.scalar(select(func.count(Annotation.id)).where(Annotation.category_id == source_id)) or 0)
            # A merge says the two classes are one: a proposal of the source class was a proposal of the target.
            # Remapped like the box's class, a merged box is not counted as relabelled (no person changed it).
            # One statement for both: each box changed goes up one revision.
            written = s.execute(_returning(update(Annotation).where(of_source).values(
                category_id=case((Annotation.category_id == source_id, target_id), else_=Annotation.category_id),
                proposal_category_id=case((Annotation.proposal_category_id == source_id, target_id),
                                          else_=Annotation.proposal_category_id),
                **marks))).all()
            s.execute(delete(Category).where(Category.id == source_id))
        self.wrote(dict(written))  # type: ignore[attr-defined]  (TeamStore's)
        return moved

    def delete_category(self, category_id: int) -> None:
        """Delete a class without boxes; one with boxes is refused (merge it instead), nothing changed."""
        with self.transaction() as s:
            category = _row(s, category_id)
            boxes = int(s.scalar(select(func.count(Annotation.id)).where(Annotation.category_id == category_id)) or 0)
            if boxes:
                raise StorageError(f"class {printable(category.name)} still has {boxes} boxes: "
                                   "merge it into another class to keep them")
            s.delete(category)

    def set_category_order(self, category_ids: Sequence[int]) -> None:
        """``category_ids`` is every class once, in the order the user wants (number keys follow it)."""
        with self.transaction() as s:
            existing = set(s.scalars(select(Category.id)))
            if sorted(category_ids) != sorted(existing):
                raise StorageError("a new class order must name every class exactly once")
            for position, category_id in enumerate(category_ids):
                s.execute(update(Category).where(Category.id == category_id).values(position=position))

    def set_category_color(self, category_id: int, color: str) -> CategoryRecord:
        color = check_color(color)
        with self.transaction() as s:
            category = _row(s, category_id)
            category.color = color
            return category_record(category)

    # --- snapshots for undo -----------------------------------------------------------------------

    def class_state(self, category_ids: Iterable[int], boxes_of: Iterable[int] = ()) -> ClassState:
        """The rows of ``category_ids`` (None where absent) and the class of every box of ``boxes_of``."""
        ids, box_classes = list(dict.fromkeys(category_ids)), list(boxes_of)
        with self.reading() as s:
            found = {c.id: c for c in s.scalars(select(Category).where(Category.id.in_(ids)))} if ids else {}
            boxes: list[tuple[int, int]] = []
            proposals: list[tuple[int, int]] = []
            if box_classes:
                boxes = [(int(a), int(c)) for a, c in s.execute(
                    select(Annotation.id, Annotation.category_id)
                    .where(Annotation.category_id.in_(box_classes)).order_by(Annotation.id))]
                proposals = [(int(a), int(c)) for a, c in s.execute(
                    select(Annotation.id, Annotation.proposal_category_id)
                    .where(Annotation.proposal_category_id.in_(box_classes)).order_by(Annotation.id))]
        rows = tuple((i, _class_row(found[i]) if i in found else None) for i in ids)
        return ClassState(rows, tuple(boxes), tuple(proposals))

    def restore_class_state(self, state: ClassState) -> None:
        """Write a snapshot back in one transaction: rows first, then the boxes, then rows that must not exist."""
        with self.transaction() as s:
            marks = edit_marks(self.annotator)  # type: ignore[attr-defined]  (see merge_categories)
            changed = [a for a, _ in state.boxes] + [a for a, _ in state.proposals]
            images: set[int] = set()
            for start in range(0, len(changed), CHUNK):
                chunk = changed[start:start + CHUNK]
                images.update(s.scalars(select(Annotation.image_id).where(Annotation.id.in_(chunk))))
            lock_images(s, images)
            for category_id, row in state.rows:
                if row is not None:
                    category = s.get(Category, category_id) or Category(id=category_id)
                    category.name, category.coco_id, category.color = row.name, row.coco_id, row.color
                    category.supercategory, category.position = row.supercategory, row.position
                    s.add(category)
            s.flush()
            values: dict[int, dict[str, int]] = {}  # one change per box: it goes up one revision
            for annotation_id, category_id in state.boxes:
                values.setdefault(annotation_id, {})["category_id"] = category_id
            for annotation_id, category_id in state.proposals:
                values.setdefault(annotation_id, {})["proposal_category_id"] = category_id
            written: dict[int, int] = {}
            for annotation_id, changed_values in values.items():
                query = update(Annotation).where(Annotation.id == annotation_id).values(**changed_values, **marks)
                written.update(s.execute(_returning(query)).all())
            for category_id, row in state.rows:
                if row is None and (category := s.get(Category, category_id)) is not None:
                    if s.scalar(select(Annotation.id).where(Annotation.category_id == category_id).limit(1)):
                        raise StorageError(f"class {printable(category.name)} has boxes again: "
                                           "it was not removed")
                    s.delete(category)
        self.wrote(written)  # type: ignore[attr-defined]  (TeamStore's)


def _returning(query: Update) -> Update:
    """A bulk change of boxes that gives back (id, new revision) of each: what this client wrote."""
    return query.returning(Annotation.id, Annotation.revision).execution_options(synchronize_session=False)


def _row(s: Session, category_id: int) -> Category:
    category = s.get(Category, category_id)
    if category is None:
        raise StorageError(f"class {category_id} is not in the project")
    return category


def _class_row(c: Category) -> ClassRow:
    return ClassRow(c.id, c.name, c.coco_id, c.color, c.supercategory or "", c.position)


def _name_taken(s: Session, name: str, category_id: int) -> bool:
    """Whether a class other than ``category_id`` is named ``name``, as this transaction sees it."""
    return s.scalar(select(Category.id).where(Category.name == name, Category.id != category_id)) is not None
