"""Ultralytics dataset yamls: which images each split lists and where their label files are. Pure: files only.

Read the way Ultralytics reads them (``check_det_dataset``, ``img2label_paths``), with the app's safety rules:

- the yaml is the one given, or a folder's ``data.yaml``, or its only ``*.yaml``/``*.yml``; parsed with
  ``yaml.safe_load`` and read like every label file (regular file, size cap);
- ``names`` is a list or a mapping ``{0: name, 1: ...}``; without it ``nc`` gives ``class_0``... as in
  Ultralytics;
- the dataset root is ``path:`` taken relative to the yaml's folder (absolute only when it lies inside that
  folder; a relative one that is no folder there falls back), else the yaml's folder; the caller may name it instead (``--images``), for a yaml whose ``path``
  points elsewhere (Ultralytics resolves a relative ``path`` against its own datasets folder);
- ``train``/``val``/``test`` are each a folder (its images, recursively), a list file (one image a line;
  ``./x`` relative to the list file, other relative lines relative to the root) or a list of those. Every
  path named by the yaml or a list file is confined to the root (``core.paths.confine``): no ``..``, no
  absolute path outside it, no symlink out;
- an image's label file is its path with the last ``/images/`` replaced by ``/labels/`` and the suffix
  ``.txt``; a missing label file is an image with no objects (Ultralytics calls it a background image).

An image listed under several keys keeps the first (train, val, test), as it is one image in the project.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from detector_app.core.labels import IMAGE_SUFFIXES, SPLITS, Split
from detector_app.core.names import printable
from detector_app.core.paths import UnsafePathError, check_relative, confine, is_regular_file
from detector_app.errors import ImportValidationError
from detector_app.formats.files import problem_text, read_label_text

YAML_SUFFIXES = (".yaml", ".yml")
MAX_LISTED_IMAGES = 5_000_000  # a list file naming more is refused, not read into memory without end


@dataclass(frozen=True)
class ListedImage:
    """An image a split of the yaml lists, and where its label file would be (``label`` may not exist)."""

    path: Path
    label: Path
    split: Split


@dataclass(frozen=True)
class YoloDataset:
    yaml_file: Path
    root: Path
    names: list[str]
    images: list[ListedImage]
    repeated: int  # images listed under more than one key (each kept once, in the first)


def find_yaml(path: Path) -> Path | None:
    """The dataset yaml ``path`` names: itself, or a folder's data.yaml or only yaml; None when there is none."""
    if is_regular_file(path):
        return path if path.suffix.lower() in YAML_SUFFIXES else None
    try:
        if not path.is_dir():
            return None
        candidates = sorted(p for p in path.iterdir() if p.suffix.lower() in YAML_SUFFIXES and is_regular_file(p))
    except OSError as exc:
        raise ImportValidationError(f"cannot list {printable(path)}: {problem_text(exc)}") from None
    preferred = [p for p in candidates if p.name == "data.yaml"]
    if preferred or len(candidates) == 1:
        return (preferred or candidates)[0]
    return None


def load_yaml(yaml_file: Path) -> dict[str, Any]:
    """The yaml's mapping; ``ImportValidationError`` (one line) for anything unreadable or not a mapping."""
    where = printable(yaml_file)
    try:
        data = yaml.safe_load(read_label_text(yaml_file, yaml_file.parent))
    except yaml.YAMLError as exc:
        raise ImportValidationError(f"{where}: not valid YAML: {printable(str(exc).splitlines()[0])}") from None
    except (OSError, ValueError) as exc:
        raise ImportValidationError(f"{where}: cannot read it: {problem_text(exc)}") from None
    if not isinstance(data, dict):
        raise ImportValidationError(f"{where}: a dataset yaml must be a mapping (names:, train:, val:, ...)")
    return data


def has_splits(data: dict[str, Any]) -> bool:
    return any(data.get(key) for key in SPLITS)


def class_names(data: dict[str, Any]) -> list[str] | None:
    """``names`` as a list (a mapping of 0..n-1 to names becomes one), or ``class_i`` for ``nc``; None when the
    yaml has neither. ``ValueError`` for a malformed value."""
    names = data.get("names")
    if isinstance(names, dict):
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in names) or \
                sorted(names) != list(range(len(names))):
            raise ValueError("'names' must map the indexes 0, 1, 2, ... to names")
        names = [names[i] for i in range(len(names))]
    if names is None:
        count = data.get("nc")
        if count is None:
            return None
        if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= 100_000:
            raise ValueError("'nc' must be a whole number of classes")
        return [f"class_{i}" for i in range(count)]
    if not isinstance(names, list) or not all(isinstance(n, str | int | float) and not isinstance(n, bool)
                                              for n in names):
        raise ValueError("'names' must be a list of names or a mapping of index to name")
    return [str(n) for n in names]


def read_dataset(yaml_file: Path, data: dict[str, Any], root: Path | None) -> YoloDataset:
    """The images each split of ``data`` lists. ``root`` (None: from ``path:``) is the dataset root."""
    where = printable(yaml_file)
    try:
        names = class_names(data)
    except ValueError as exc:
        raise ImportValidationError(f"{where}: {exc}") from None
    if not names:
        raise ImportValidationError(f"{where}: no class names ('names:' or 'nc:')")
    root = root if root is not None else dataset_root(yaml_file, data.get("path"))
    found: dict[Path, ListedImage] = {}
    repeated = 0
    for split in SPLITS:
        entries = data.get(split)
        if not entries:
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            try:
                for image in listed_images(root, entry):
                    if image in found:
                        repeated += 1
                    else:
                        found[image] = ListedImage(image, label_path(root, image), Split(split))
            except (OSError, ValueError) as exc:
                raise ImportValidationError(f"{where}: {split}: {problem_text(exc)}") from None
    if not found:
        raise ImportValidationError(f"{where}: its train/val/test entries list no image in {printable(root)}")
    return YoloDataset(yaml_file, root, names, list(found.values()), repeated)


def dataset_root(yaml_file: Path, path: object) -> Path:
    """``path:`` relative to the yaml's folder (confined to it), else that folder. A relative ``path:`` that is
    no folder there (Ultralytics' own yamls say ``path: coco8``, meaning its datasets folder) falls back to the
    yaml's folder: a dataset downloaded next to its yaml is the common case."""
    folder = yaml_file.parent
    if path is None or path == "":
        return folder
    try:
        root = _resolve(folder, path)
    except (OSError, ValueError) as exc:
        raise ImportValidationError(f"{printable(yaml_file)}: path: {problem_text(exc)}; name the dataset root "
                                    "with --images DIR") from None
    if root.is_dir():
        return root
    if isinstance(path, str) and not os.path.isabs(path):
        return folder
    raise ImportValidationError(f"{printable(yaml_file)}: path: {printable(path)} is not a folder")


def listed_images(root: Path, entry: object) -> Iterator[Path]:
    """The images one yaml entry names: a folder's images (recursively, sorted) or a list file's lines."""
    target = _resolve(root, entry)
    if target.is_dir():
        yield from _folder_images(root, target)
        return
    if not is_regular_file(target):
        raise FileNotFoundError(2, f"{printable(entry)} is neither a folder nor a list file in {printable(root)}")
    lines = [line.strip() for line in read_label_text(target, root).splitlines() if line.strip()]
    if len(lines) > MAX_LISTED_IMAGES:
        raise ValueError(f"{printable(entry)} lists more than {MAX_LISTED_IMAGES} images")
    base = target.parent.relative_to(root).as_posix() if target.parent != root else ""
    for number, line in enumerate(lines, start=1):
        relative = f"{base}/{line[2:]}" if line.startswith("./") and base else line.removeprefix("./")
        try:
            image = _resolve(root, relative)
        except UnsafePathError as exc:
            raise ValueError(f"{printable(entry)} line {number}: {exc}") from None
        if not is_regular_file(image):
            raise ValueError(f"{printable(entry)} line {number}: no image file {printable(line)[:80]}")
        yield image


def _folder_images(root: Path, folder: Path) -> Iterator[Path]:
    # Symlinked folders are not entered (rglob); each file is confined, so a symlink leading out is skipped.
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and is_regular_file(path):
            try:
                yield confine(root, path.relative_to(root).as_posix())
            except UnsafePathError:
                continue


def label_path(root: Path, image: Path) -> Path:
    """Ultralytics' rule on the path inside the root: the last ``/images/`` becomes ``/labels/``, suffix .txt."""
    relative = "/" + image.relative_to(root).as_posix()
    head, sep, tail = relative.rpartition("/images/")
    relative = f"{head}/labels/{tail}" if sep else relative
    return root / PurePosixPath(relative.lstrip("/")).with_suffix(".txt")


def _resolve(root: Path, value: object) -> Path:
    """``value`` (a path from the yaml or a list file) as a path inside ``root``; ``.`` is the root itself."""
    relative = _inside(root, value)
    return root if relative in (".", "./") else confine(root, relative)


def _inside(root: Path, value: object) -> str:
    """A path from the yaml as text relative to ``root``: an absolute one only when it lies inside ``root``."""
    if not isinstance(value, str):
        raise UnsafePathError(f"a path must be text, not {type(value).__name__}")
    if not os.path.isabs(value):
        if value.strip() not in (".", "./"):
            check_relative(value)
        return value.strip()
    absolute, base = Path(value), root.resolve()
    try:
        relative = absolute.resolve().relative_to(base)
    except (OSError, RuntimeError, ValueError):
        raise UnsafePathError(f"{printable(value)[:60]!r} is outside {printable(root)}") from None
    return relative.as_posix() or "."
