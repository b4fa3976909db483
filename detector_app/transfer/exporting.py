"""Export: the repository's label set -> a codec writing into a staging folder -> a safe publish."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from detector_app.core.gc_pause import collector_paused
from detector_app.core.labels import LabelSet
from detector_app.errors import StorageError
from detector_app.formats.coco import coco_results, write_json
from detector_app.formats.target import (
    ExportTargetError,
    PreviousExport,
    check_target,
    export_into,
    file_mode,
)
from detector_app.plugins_api.api import PluginError
from detector_app.plugins_api.manager import get_manager
from detector_app.storage.label_export import Scope, read_label_set, read_predictions
from detector_app.storage.repository import Repository
from detector_app.storage.video_export import with_video_frames
from detector_app.transfer.formats import LabelFormat, find_format


def export_labels(repo: Repository, format_name: str, out_dir: str | Path, scope: Scope = "reviewed",
                  copy_images: bool = False) -> Path:
    """Write the labels of ``scope`` in ``format_name`` into ``out_dir``; return the main file written.

    ``out_dir`` must be new, empty or a previous export of this app (``export.target``); a failure leaves it
    exactly as it was."""
    fmt = find_format(format_name, "export")
    out_dir = Path(out_dir)
    refuse_top_folder(out_dir)
    if fmt.legacy:
        return fmt.export_legacy(repo, out_dir, scope, copy_images)
    with collector_paused():
        return _export(repo, fmt, out_dir, scope, copy_images)


def _export(repo: Repository, fmt: LabelFormat, out_dir: Path, scope: Scope, copy_images: bool) -> Path:
    labels = with_video_frames(repo, read_label_set(repo, scope), scope)  # interpolated frames of video tasks
    if not copy_images:
        check_images_root(labels)

    def write(stage: Path) -> Path:
        try:
            return fmt.write(labels, stage, copy_images)
        except OSError as exc:  # a built-in codec meeting a full disk (plugins' errors arrive as PluginError)
            raise StorageError(f"export to {out_dir} failed, nothing was written: {exc.strerror or exc}") from exc

    try:
        return export_into(out_dir, write, fmt.name)
    except PluginError as exc:
        raise PluginError(f"{exc}; nothing was written to {out_dir}") from exc
    except (ValueError, TypeError) as exc:
        if fmt.codec is not None:
            raise
        # The publish step refusing what a plugin wrote or returned (checked in the guarded call already; this
        # is the fallback): the plugin's failure, one line, the previous export intact.
        error = get_manager().record_failure(fmt.name, "exporting", exc)
        raise PluginError(f"{error}; nothing was written to {out_dir}") from exc


def refuse_top_folder(out_dir: str | Path) -> None:
    """An export never writes straight into the top of the file system or the home folder itself (one went to
    ``/`` from the GUI): those are never the new, empty folder an export is meant to own."""
    out = Path(os.path.realpath(Path(out_dir).expanduser()))
    if out == Path(out.anchor):
        raise ExportTargetError(f"{out} is the top of the file system; choose a new or empty folder for the export")
    if out == Path(os.path.realpath(Path.home())):
        raise ExportTargetError(f"{out} is your home folder itself; choose a new or empty folder inside it")


def check_destination(out_dir: str | Path) -> PreviousExport | None:
    """What exporting into ``out_dir`` would replace (None: nothing); raises ``ExportTargetError`` for a folder
    an export refuses. Reads only: the GUI shows it before anything is written."""
    refuse_top_folder(out_dir)
    return check_target(out_dir)


def check_images_root(labels: LabelSet) -> None:
    """Without copied images, ``file_name``s are relative to the deepest folder holding every image
    (``LabelSet.relative_to_common_folder``). When that is the top of the file system the names would be
    root-relative (``work/...`` with ``images_dir "/"``): refused, the images are copied instead."""
    root = labels.images_dir
    if root is not None and root.is_absolute() and root == Path(root.anchor):
        folders = sorted({str(i.path.parent) for i in labels.images if i.path is not None})
        shown = " and ".join(folders[:2]) + (f" and {len(folders) - 2} more" if len(folders) > 2 else "")
        raise ExportTargetError(f"the images lie in folders with nothing in common ({shown}); export with the "
                                "images copied (--copy-images, or tick Copy images) so the export is self-contained")


def export_coco(repo: Repository, out_dir: str | Path, scope: Scope = "reviewed", copy_images: bool = False) -> Path:
    """A COCO dataset of ``scope``: ``out_dir/instances.json`` (+ ``images/`` with ``copy_images``)."""
    return export_labels(repo, "coco", out_dir, scope, copy_images)


def export_coco_results(repo: Repository, out_path: str | Path, image_ids: Sequence[int] | None = None,
                        model_version_id: int | None = None) -> Path:
    """Model predictions in the COCO results format; image ids match those of :func:`export_coco`."""
    out_path = Path(out_path)
    with collector_paused():
        results = coco_results(read_predictions(repo, image_ids, model_version_id))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        _write_durably(out_path, results)
    return out_path


def _write_durably(path: Path, data: object) -> None:
    """Write beside ``path``, fsync, then rename over it: never a half-written file (mode from the umask)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_json(Path(tmp), data)
        os.chmod(tmp, file_mode())  # mkstemp's 0600 would make the file private, unlike its neighbours
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
