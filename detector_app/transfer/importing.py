"""Import: codec -> checked image files -> one transaction. A bad file changes nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector_app.core.gc_pause import collector_paused
from detector_app.errors import LabelSetError
from detector_app.formats.coco import CocoCodec, image_paths, label_set_from_coco, read_coco_data
from detector_app.formats.coco_validate import CocoValidationError
from detector_app.storage.label_import import ImportReport, import_label_set
from detector_app.storage.repository import Repository
from detector_app.transfer.formats import find_format

if TYPE_CHECKING:
    from detector_app.core.images import CheckedImage


def import_labels(repo: Repository, format_name: str, path: str | Path,
                  images_dir: str | Path | None = None) -> ImportReport:
    """Import the labels at ``path`` in ``format_name`` for the images in ``images_dir``."""
    fmt = find_format(format_name, "import")
    path = Path(path)
    folder = Path(images_dir) if images_dir is not None else None
    if fmt.legacy:  # an ExporterPlugin that writes into the project itself
        return fmt.import_legacy(repo, path, folder)
    if isinstance(fmt.codec, CocoCodec) and folder is not None:  # its image checks start before the label set
        return import_coco(repo, path, folder)
    with collector_paused():
        labels = fmt.read(path, folder).numbered()
        return import_label_set(repo, labels, path, getattr(fmt.codec, "error", LabelSetError))


def import_coco(repo: Repository, json_path: str | Path, images_dir: str | Path) -> ImportReport:
    """Import a COCO ``instances`` file whose ``file_name``s are relative to ``images_dir``.

    Raises ``CocoValidationError`` listing the first problems; then the project is exactly as before.
    """
    # Pillow: only commands that add image files load it.
    from detector_app.core.image_batch import streamed_checks

    json_path, images_dir = Path(json_path), Path(images_dir)
    with collector_paused(), contextlib.ExitStack() as stack:
        started: list[tuple[list[Path], Iterator[CheckedImage | str]]] = []

        def start_checks(data: dict[str, Any]) -> None:
            # Worker processes check the image files from here on (every name is confined by now), while this
            # process checks the boxes, builds the label set and writes it (100,000 images: the second core is
            # no longer idle meanwhile). A problem found in the boxes stops them.
            paths = image_paths(data, images_dir)
            started.append((paths, stack.enter_context(streamed_checks(paths))))

        data = read_coco_data(json_path, images_dir, start_checks)
        paths, checks = started[0]  # a valid file had valid images
        return import_label_set(repo, label_set_from_coco(data, images_dir, paths), json_path, CocoValidationError,
                                checks)


def import_message(report: object) -> str:
    """The one sentence the GUI shows after an import: the report's own summary, started with a capital
    ("Imported 12 boxes on …", never "Imported imported …"); a plugin's free-form report gets a lead-in."""
    text = str(report).strip()
    if text.lower().startswith("imported"):
        return text[:1].upper() + text[1:]
    return f"Import finished: {text}" if text else "Import finished."
