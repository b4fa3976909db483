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

from detector_app.core.names import printable
from detector_app.core.paths import (
    UnsafePathError,
    check_relative,
    confine,
    is_regular_file,
    read_regular_file,
)
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

    # Beside the copies (the exporter's staging folder): the images are then moved, not copied across disks.
    work_dir = Path(copy_images_to).parent if copy_images_to is not None else None
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="detector-app-labels-", dir=work_dir) as tmp:
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
    """Finds the image file for a label file by relative path or by file name, in one folder tree.

    The tree is listed once; ``find`` only ever returns a listed file, so a label file cannot make the import
    open anything else. Listed are regular image files inside the folder: symlinked folders are not entered,
    and a symlink (or a name) leading outside the folder is left out, as are names that cannot be stored.
    """

    def __init__(self, images_dir: Path) -> None:
        try:
            is_dir = images_dir.is_dir()
        except (OSError, ValueError):
            is_dir = False
        if not is_dir:
            raise ImportValidationError(f"image folder {printable(images_dir)} not found")
        self.root = images_dir
        try:
            self._files = sorted(p for p in images_dir.rglob("*") if self._usable(p))
        except OSError as exc:
            raise ImportValidationError(f"cannot list the image folder {printable(images_dir)}: "
                                        f"{printable(exc.strerror or exc)}") from exc
        self._by_relative: dict[str, Path] = {}
        self._by_name: dict[str, list[Path]] = {}
        self._by_stem: dict[str, list[Path]] = {}
        self._by_relative_stem: dict[str, list[Path]] = {}
        for path in self._files:
            relative = path.relative_to(images_dir)
            self._by_relative[relative.as_posix()] = path
            self._by_relative_stem.setdefault(relative.with_suffix("").as_posix(), []).append(path)
            self._by_name.setdefault(path.name, []).append(path)
            self._by_stem.setdefault(path.stem, []).append(path)

    def _usable(self, path: Path) -> bool:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            return False
        try:
            confine(self.root, path.relative_to(self.root).as_posix())
        except UnsafePathError:  # leads outside, or a name with control characters or undecodable bytes
            return False
        return is_regular_file(path)

    def find(self, relative: str) -> Path:
        """``relative``: "a/b.jpg" (exact), "a/b" (any image suffix) or just a file name or stem anywhere
        in the tree when that is unique. Raises ``LookupError`` with the reason, and ``UnsafePathError``
        (a ``ValueError``) for a path that would leave the folder."""
        rel = check_relative(relative)
        if rel.suffix.lower() in IMAGE_SUFFIXES and rel.as_posix() in self._by_relative:
            return self._by_relative[rel.as_posix()]
        same_stem = self._by_relative_stem.get(rel.as_posix(), [])
        for suffix in _with_upper(IMAGE_SUFFIXES):
            for candidate in same_stem:
                if candidate.suffix == suffix:
                    return candidate
        matches = self._by_name.get(rel.name) or self._by_stem.get(rel.stem if rel.suffix.lower() in IMAGE_SUFFIXES
                                                                     else rel.name, [])
        if len(matches) == 1:
            return matches[0]
        shown = printable(relative)
        if matches:
            raise LookupError(f"'{shown}' matches {len(matches)} images in {printable(self.root)}")
        raise LookupError(f"no image for '{shown}' in {printable(self.root)}")


MAX_LABEL_FILE_BYTES = 256 * 1024**2  # one label file (a VOC XML, a YOLO txt, classes.txt); real ones are KBs


def label_files(folder: Path, pattern: str) -> list[Path]:
    """The files matching ``pattern`` under ``folder``, sorted (symlinked folders are not entered). Check each
    with ``confine(folder, ...)`` before reading it: a symlink among them may lead elsewhere."""
    try:
        return sorted(folder.rglob(pattern)) if folder.is_dir() else []
    except (OSError, ValueError) as exc:
        raise ImportValidationError(f"cannot list {printable(folder)}: {printable(exc)}") from exc


def read_label_file(path: Path, folder: Path | None = None, max_bytes: int = MAX_LABEL_FILE_BYTES) -> bytes:
    """The bytes of a label file: with ``folder``, only when it lies inside it (``confine``); only a regular file
    (never a pipe or a device) and at most ``max_bytes``. Raises ``UnsafePathError`` (a ``ValueError``) or an
    ``OSError`` whose message says why."""
    if folder is not None:
        path = confine(folder, path.relative_to(folder).as_posix())
    return read_regular_file(path, max_bytes)


def read_label_text(path: Path, folder: Path | None = None) -> str:
    """:func:`read_label_file` decoded as UTF-8 (a byte-order mark is dropped); ``UnicodeDecodeError`` is a
    ``ValueError``."""
    return read_label_file(path, folder).decode("utf-8-sig")


def problem_text(exc: BaseException) -> str:
    """One printable phrase for an error met while reading a label file."""
    if isinstance(exc, OSError) and exc.strerror:
        return printable(exc.strerror)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return printable(exc)


def _with_upper(suffixes: Iterable[str]) -> list[str]:
    return [s for suffix in suffixes for s in (suffix, suffix.upper())]

