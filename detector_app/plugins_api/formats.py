"""What a label-format plugin works with: the label model and the helpers for reading label files safely.

A :class:`~detector_app.plugins_api.api.FormatPlugin` is a codec: it gets a :class:`LabelSet` to write and
returns one from ``read``; ``ImageIndex``, ``label_files``, ``read_label_text`` and ``raise_problems`` keep a
reader inside the folder the user chose. ``read_labels`` / ``write_labels`` serve the older
:class:`~detector_app.plugins_api.api.ExporterPlugin` kind, which works on the project itself: both use the
same selection and the same one-transaction import as the built-in formats, with no intermediate file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from detector_app.core.labels import Box, Category, LabelledImage, LabelSet, categories_in_order
from detector_app.formats.files import (
    ImageIndex,
    label_files,
    problem_text,
    raise_problems,
    read_label_file,
    read_label_text,
)
from detector_app.formats.images import copy_images
from detector_app.plugins_api.api import ExportScope
from detector_app.storage.files import read_image_info
from detector_app.storage.label_export import read_label_set
from detector_app.storage.label_import import ImportReport, import_label_set

if TYPE_CHECKING:
    from detector_app.storage.repository import Repository

__all__ = [
    "Box", "Category", "ImageIndex", "LabelSet", "LabelledImage", "ParsedImage", "label_files", "problem_text",
    "raise_problems", "read_label_file", "read_label_text", "read_labels", "write_labels",
]


def read_labels(repo: Repository, scope: ExportScope = "reviewed", copy_images_to: Path | None = None) -> LabelSet:
    """The images and boxes the built-in export writes for ``scope``.

    With ``copy_images_to`` the images are copied there (video frames decoded) and ``file_name`` is relative
    to that folder; otherwise it is relative to the images' common folder.
    """
    labels = read_label_set(repo, scope)
    return copy_images(labels, Path(copy_images_to)) if copy_images_to is not None else labels


@dataclass(frozen=True)
class ParsedImage:
    """One image of a label file being imported: the image file found for it and its boxes."""

    path: Path
    boxes: list[Box]


def write_labels(repo: Repository, images: Sequence[ParsedImage], categories: Sequence[str], images_dir: Path,
                 source: Path) -> ImportReport:
    """Import parsed labels as human, accepted boxes in one transaction (a bad file changes nothing); boxes
    whose category is not in ``categories`` add it at the end."""
    root = images_dir.resolve()
    labelled = []
    for image in images:
        info = read_image_info(image.path)
        labelled.append(LabelledImage(image.path.resolve().relative_to(root).as_posix(), info.width, info.height,
                                      tuple(image.boxes), image.path))
    labels = LabelSet(categories_in_order(categories), tuple(labelled), images_dir).numbered()
    return replace(import_label_set(repo, labels, source), source=source)
