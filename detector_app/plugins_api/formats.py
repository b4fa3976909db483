"""Helpers for label-format plugins: read a project's labels as plain data, write parsed labels back.

Both directions go through the built-in COCO code, so a format plugin only converts: ``read_labels`` takes
what :func:`export_coco` selects for a scope (same images, same boxes, same rules), and ``write_labels``
hands a COCO dataset to :func:`import_coco` (validated first, then written in one transaction: a bad
file changes nothing).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

from detector_app.errors import ImportValidationError
from detector_app.plugins_api.api import ExportScope

if TYPE_CHECKING:
    from detector_app.export.coco import ImportReport
    from detector_app.storage import Repository

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SHOWN_PROBLEMS = 5

BBox = tuple[float, float, float, float]  # COCO x, y, w, h in pixels


@dataclass(frozen=True)
class Box:
    category: str
    bbox: BBox
    iscrowd: int = 0


@dataclass(frozen=True)
class LabelledImage:
    file_name: str  # POSIX path relative to the export's image folder (unique within one export)
    path: Path  # where the image file is
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)


@dataclass(frozen=True)
class LabelSet:
    categories: list[str]  # every category of the project, in COCO id order
    images: list[LabelledImage]


def read_labels(repo: Repository, scope: ExportScope = "reviewed", copy_images_to: Path | None = None) -> LabelSet:
    """The images and boxes ``export_coco`` would write for ``scope``.

    With ``copy_images_to`` the images are copied there (video frames decoded) and ``file_name`` is relative
    to that folder; otherwise it is relative to the images' common folder.
    """
    from detector_app.export.coco import export_coco

    with tempfile.TemporaryDirectory(prefix="detector-app-labels-") as tmp:
        json_path = export_coco(repo, Path(tmp), scope=scope, copy_images=copy_images_to is not None)
        data = json.loads(json_path.read_text(encoding="utf-8"))
        if copy_images_to is not None:
            shutil.move(str(Path(tmp) / "images"), str(copy_images_to))
            root = Path(copy_images_to)
        else:
            root = Path(data["info"]["images_dir"])
    return _label_set(data, root)


def _label_set(data: dict[str, Any], root: Path) -> LabelSet:
    names = {c["id"]: c["name"] for c in data["categories"]}
    boxes: dict[int, list[Box]] = {}
    for a in data["annotations"]:
        box = Box(names[a["category_id"]], tuple(float(v) for v in a["bbox"]), int(a.get("iscrowd", 0)))
        boxes.setdefault(a["image_id"], []).append(box)
    images = [LabelledImage(i["file_name"], root / PurePosixPath(i["file_name"]), int(i["width"]), int(i["height"]),
                            boxes.get(i["id"], [])) for i in data["images"]]
    return LabelSet([c["name"] for c in data["categories"]], images)


@dataclass(frozen=True)
class ParsedImage:
    """One image of a label file being imported: the image file found for it and its boxes."""

    path: Path
    boxes: list[Box]


def write_labels(repo: Repository, images: Sequence[ParsedImage], categories: Sequence[str], images_dir: Path,
                 source: Path) -> ImportReport:
    """Import parsed labels as human, accepted boxes (through ``import_coco``); the report names ``source``."""
    from detector_app.export.coco import CocoValidationError, import_coco

    data = coco_dataset(images, categories, images_dir)
    with tempfile.TemporaryDirectory(prefix="detector-app-import-") as tmp:
        json_path = Path(tmp) / "instances.json"
        json_path.write_text(json.dumps(data), encoding="utf-8")
        try:
            report = import_coco(repo, json_path, images_dir)
        except CocoValidationError as exc:
            raise_problems(source, exc.problems)
    return replace(report, source=source)


def coco_dataset(images: Sequence[ParsedImage], categories: Sequence[str], images_dir: Path) -> dict[str, Any]:
    """A COCO ``instances`` dict; boxes whose category is not in ``categories`` add it at the end."""
    names = list(dict.fromkeys([*categories, *(b.category for i in images for b in i.boxes)]))
    category_id = {name: index + 1 for index, name in enumerate(names)}
    root = images_dir.resolve()
    coco_images, annotations = [], []
    for image_id, image in enumerate(images, start=1):
        info = image_info(image.path)
        coco_images.append({"id": image_id, "file_name": image.path.resolve().relative_to(root).as_posix(),
                            "width": info.width, "height": info.height})
        annotations.extend({"id": len(annotations) + 1, "image_id": image_id, "category_id": category_id[b.category],
                            "bbox": list(b.bbox), "area": b.bbox[2] * b.bbox[3], "iscrowd": b.iscrowd}
                           for b in image.boxes)
    return {"images": coco_images, "annotations": annotations,
            "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in category_id.items()]}


def image_info(path: Path) -> Any:
    """Width and height as the project stores them (EXIF orientation applied)."""
    from detector_app.storage.files import read_image_info

    return read_image_info(path)


def raise_problems(source: Path, problems: Sequence[str]) -> NoReturn:
    """Raise one ``ImportValidationError`` naming the first problems (nothing has been written)."""
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    raise ImportValidationError(f"{source}: nothing was imported, {len(problems)} problem(s): {shown}{more}")


class ImageIndex:
    """Finds the image file for a label file by relative path or by file name, in one folder tree."""

    def __init__(self, images_dir: Path) -> None:
        if not images_dir.is_dir():
            raise ImportValidationError(f"image folder {images_dir} not found")
        self.root = images_dir
        self._files = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        self._by_name: dict[str, list[Path]] = {}
        self._by_stem: dict[str, list[Path]] = {}
        for path in self._files:
            self._by_name.setdefault(path.name, []).append(path)
            self._by_stem.setdefault(path.stem, []).append(path)

    def find(self, relative: str) -> Path:
        """``relative``: "a/b.jpg" (exact), "a/b" (any image suffix) or just a file name or stem anywhere
        in the tree when that is unique. Raises ``LookupError`` with the reason."""
        rel = PurePosixPath(relative.replace("\\", "/"))
        exact = self.root / rel
        if rel.suffix.lower() in IMAGE_SUFFIXES and exact.is_file():
            return exact
        for suffix in _with_upper(IMAGE_SUFFIXES):
            candidate = self.root / rel.with_name(rel.name + suffix)
            if candidate.is_file():
                return candidate
        matches = self._by_name.get(rel.name) or self._by_stem.get(rel.stem if rel.suffix.lower() in IMAGE_SUFFIXES
                                                                     else rel.name, [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise LookupError(f"{relative!r} matches {len(matches)} images in {self.root}")
        raise LookupError(f"no image for {relative!r} in {self.root}")


def _with_upper(suffixes: Iterable[str]) -> list[str]:
    return [s for suffix in suffixes for s in (suffix, suffix.upper())]

