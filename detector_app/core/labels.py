"""The label model: what a box, a labelled image and a set of labels are, and the rules about them.

Plain frozen records and pure functions, no database and no Qt (labelme's ``_label_file.py`` is the model).
The repository gives label sets out and takes them in; format codecs turn them into files and back. Every
rule about review status lives here and nowhere else:

- a box *counts as a label* (it is exported, trained on and evaluated against) when a person accepted or
  corrected it, or drew it and did not reject it;
- an image is *reviewed* once a person acted on it and no box on it is still ``predicted``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from detector_app.core.names import name_problem, printable

BACKGROUND = "__background__"  # class index 0 of a torchvision detector; never a user class
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")  # in order of preference

BBox = tuple[float, float, float, float]  # COCO x, y, w, h in image pixels


class Status(StrEnum):
    """Where a box stands in review. Stored as these strings."""

    PREDICTED = "predicted"  # proposed by a model, nobody looked yet
    ACCEPTED = "accepted"  # a person said it is right (or drew it)
    CORRECTED = "corrected"  # a person moved, resized or relabelled a proposal
    REJECTED = "rejected"  # a person said it is wrong; kept for the record, never a label


class Origin(StrEnum):
    """Who made a box."""

    MODEL = "model"
    HUMAN = "human"


class ReviewState(StrEnum):
    """Image filters of the review queue."""

    ALL = "all"
    UNREVIEWED = "unreviewed"
    REVIEWED = "reviewed"


class Split(StrEnum):
    """The subset an image belongs to, as the user (or the dataset they imported) chose it."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)  # plain strings: the database stores these
ORIGINS: tuple[str, ...] = tuple(o.value for o in Origin)
SPLITS: tuple[str, ...] = tuple(s.value for s in Split)
LABEL_STATUSES: tuple[str, ...] = (Status.ACCEPTED.value, Status.CORRECTED.value)


def counts_as_label(status: str, origin: str) -> bool:
    """True for boxes that are ground truth: accepted or corrected, or drawn by a person and not rejected."""
    return status in LABEL_STATUSES or (origin == Origin.HUMAN and status != Status.REJECTED)


def is_reviewed(person_acted: bool, statuses: Iterable[str]) -> bool:
    """An image is reviewed once a person acted on it and none of its boxes is still a bare proposal."""
    return person_acted and all(s != Status.PREDICTED for s in statuses)


def split_problem(value: object) -> str | None:
    """None when ``value`` is a split (``train``, ``val``, ``test``) or None (no split), else the reason."""
    if value is None or (isinstance(value, str) and value in SPLITS):
        return None
    return f"{printable(str(value))[:20]!r} is not a split ({', '.join(SPLITS)})"


def is_user_class(name: str) -> bool:
    return bool(name) and name != BACKGROUND


@dataclass(frozen=True)
class Category:
    """A class of the label set. ``id`` is its COCO id when it has one (kept across import and export)."""

    name: str
    id: int | None = None
    supercategory: str = ""


_new = object.__new__


@dataclass(frozen=True)
class Box:
    """One box on an image. ``bbox`` is COCO ``(x, y, w, h)`` in pixels of the image as displayed."""

    category: str
    bbox: BBox
    iscrowd: int = 0
    score: float | None = None
    status: Status = Status.ACCEPTED
    origin: Origin = Origin.HUMAN
    id: int | None = None  # id in the file it came from / goes to (COCO annotation id)
    track_id: int | None = None  # the object track of a video frame's box (COCO track_id, MOT id)

    @classmethod
    def of(cls, category: str, bbox: BBox, iscrowd: int, score: float | None, status: Status, origin: Origin,
           id: int | None, track_id: int | None) -> Box:  # noqa: A002 (the field's name)
        """``Box(...)`` with every field given, built 2.5x faster: a frozen dataclass's ``__init__`` sets each
        field through ``object.__setattr__`` (1.6 against 0.6 µs), which a 1,000,000-box import or export
        pays a million times. There is no check to skip: ``__init__`` has none either."""
        box = _new(cls)
        box.__dict__.update(category=category, bbox=bbox, iscrowd=iscrowd, score=score, status=status,
                            origin=origin, id=id, track_id=track_id)
        return box

    @property
    def is_label(self) -> bool:
        return counts_as_label(self.status, self.origin)

    @property
    def xyxy(self) -> BBox:
        x, y, w, h = self.bbox
        return x, y, x + w, y + h


@dataclass(frozen=True)
class LabelledImage:
    """An image and its boxes. ``file_name`` is the POSIX path relative to the label set's image folder."""

    file_name: str
    width: int
    height: int
    boxes: tuple[Box, ...] = ()
    path: Path | None = None  # the image file on disk, when known
    id: int | None = None  # id in the file it came from / goes to (COCO image id)
    video_path: Path | None = None  # a frame of a video: the video and the frame's index in it
    frame_index: int | None = None
    reviewed: bool = True
    # sha256 of the image file as the project stored it: copying checks the file against it. None: not known
    # (a label set read from files); "" : a project row with no stored hash (refused when copied).
    content_hash: str | None = None
    split: Split | None = None  # None: the user chose no split for this image


@dataclass(frozen=True)
class LabelSet:
    """Images with their boxes and the categories they use, in a stable order (categories by id)."""

    categories: tuple[Category, ...]
    images: tuple[LabelledImage, ...]
    images_dir: Path | None = None  # the folder ``file_name``s are relative to
    notes: tuple[str, ...] = field(default=(), compare=False)  # what a codec changed or dropped, for the report

    @property
    def category_names(self) -> list[str]:
        return [c.name for c in self.categories]

    @property
    def box_count(self) -> int:
        return sum(len(i.boxes) for i in self.images)

    def relative_to_common_folder(self) -> LabelSet:
        """Each image named relative to the deepest folder holding them all (that folder is ``images_dir``)."""
        paths = [str(i.path) for i in self.images if i.path is not None]
        if not paths:
            return replace(self, images_dir=Path("."))
        # Strings, not Path.relative_to, and records kept when their name is already right: an export names
        # every image of a project through here.
        root = os.path.commonpath({os.path.dirname(p) or "." for p in paths})  # each folder once
        start = 0 if root == "." else len(os.path.join(root, ""))
        images = tuple(i if i.path is None or (name := str(i.path)[start:].replace(os.sep, "/")) == i.file_name
                       else replace(i, file_name=name) for i in self.images)
        return replace(self, images=images, images_dir=Path(root))

    def numbered(self) -> LabelSet:
        """Every category a box uses listed, and images, boxes and categories without an id given the next free
        one (in order): importing the same file twice is then recognised, and an export gives the ids back."""
        listed = {c.name for c in self.categories}
        used = [Category(name) for name in dict.fromkeys(b.category for i in self.images for b in i.boxes)
                if name not in listed]  # a box's class missing from the list joins it, at the end
        next_category = max((c.id or 0 for c in self.categories), default=0) + 1
        categories = []
        for category in (*self.categories, *used):
            if category.id is None:
                category, next_category = replace(category, id=next_category), next_category + 1
            categories.append(category)
        next_image = max((i.id or 0 for i in self.images), default=0) + 1
        next_box = max((b.id or 0 for i in self.images for b in i.boxes), default=0) + 1
        images = []
        for image in self.images:
            if image.id is not None and all(box.id is not None for box in image.boxes):
                images.append(image)  # nothing to number (a COCO file numbers everything): kept as it is
                continue
            boxes = []
            for box in image.boxes:
                if box.id is None:
                    box, next_box = replace(box, id=next_box), next_box + 1
                boxes.append(box)
            if image.id is None:
                image, next_image = replace(image, id=next_image), next_image + 1
            images.append(replace(image, boxes=tuple(boxes)))
        return replace(self, categories=tuple(categories), images=tuple(images))

    def labels_only(self) -> LabelSet:
        """The same images with only the boxes that count as labels."""
        images = tuple(replace(i, boxes=tuple(b for b in i.boxes if b.is_label)) for i in self.images)
        return replace(self, images=images)


def label_set_problems(labels: LabelSet) -> list[str]:
    """What makes ``labels`` unfit to store, whatever format it came from (codecs check their own syntax
    first): class names that break the name rule, boxes that are not finite with a positive size."""
    problems = [f"category {printable(c.name)[:60]!r}: {problem}" for c in labels.categories
                if (problem := name_problem(c.name) or (None if is_user_class(c.name) else "reserved name"))]
    for image in labels.images:
        if problem := split_problem(image.split):
            problems.append(f"image {printable(image.file_name)!r}: {problem}")
        for box in image.boxes:
            x, y, w, h = box.bbox  # unpacked, not a generator per box: imports check 100k boxes here
            if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(w) and math.isfinite(h) and w > 0
                    and h > 0):
                problems.append(f"image {printable(image.file_name)!r}: box {box.bbox} is not finite with a "
                                "positive width and height")
    return problems


def categories_in_order(names: Sequence[str], known: Sequence[Category] = ()) -> tuple[Category, ...]:
    """``known`` categories first (their ids kept), then any other name in ``names`` order, numbered after."""
    out = list(known)
    seen = {c.name for c in out}
    next_id = max((c.id or 0 for c in out), default=0) + 1
    for name in names:
        if name not in seen:
            out.append(Category(name, next_id))
            seen.add(name)
            next_id += 1
    return tuple(out)
