"""Category rows: created on first use, with a stable colour and a free COCO id."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from detector_app.core.labels import BACKGROUND
from detector_app.core.palette import class_color_hex
from detector_app.errors import StorageError
from detector_app.storage.models import Category
from detector_app.storage.records import CategoryRecord


def ensure_category_row(s: Session, name: str, coco_id: int | None, color: str | None,
                     supercategory: str) -> Category:
    name = name.strip()
    if not name or name == BACKGROUND:
        raise StorageError(f"{name!r} cannot be a class name")
    category = s.scalars(select(Category).where(Category.name == name)).first()
    if category is not None:
        return category
    taken = coco_id is None or coco_id <= 0 or s.scalar(select(Category.id).where(Category.coco_id == coco_id))
    if taken:
        coco_id = int(s.scalar(select(func.coalesce(func.max(Category.coco_id), 0))) or 0) + 1
    category = Category(name=name, coco_id=coco_id, color=color or class_color_hex(name),
                        supercategory=supercategory or "")
    s.add(category)
    s.flush()
    return category


def category_record(c: Category) -> CategoryRecord:
    return CategoryRecord(id=c.id, name=c.name, coco_id=c.coco_id, color=c.color, supercategory=c.supercategory)
