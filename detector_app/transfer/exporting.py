"""Export: the repository's label set -> a codec writing into a staging folder -> a safe publish."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from detector_app.errors import StorageError
from detector_app.formats.coco import coco_results, write_json
from detector_app.formats.target import export_into, file_mode
from detector_app.plugins_api.api import PluginError
from detector_app.plugins_api.manager import get_manager
from detector_app.storage.label_export import Scope, read_label_set, read_predictions
from detector_app.storage.repository import Repository
from detector_app.transfer.formats import find_format


def export_labels(repo: Repository, format_name: str, out_dir: str | Path, scope: Scope = "reviewed",
                  copy_images: bool = False) -> Path:
    """Write the labels of ``scope`` in ``format_name`` into ``out_dir``; return the main file written.

    ``out_dir`` must be new, empty or a previous export of this app (``export.target``); a failure leaves it
    exactly as it was."""
    fmt = find_format(format_name, "export")
    out_dir = Path(out_dir)
    if fmt.legacy:
        return fmt.export_legacy(repo, out_dir, scope, copy_images)
    labels = read_label_set(repo, scope)

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


def export_coco(repo: Repository, out_dir: str | Path, scope: Scope = "reviewed", copy_images: bool = False) -> Path:
    """A COCO dataset of ``scope``: ``out_dir/instances.json`` (+ ``images/`` with ``copy_images``)."""
    return export_labels(repo, "coco", out_dir, scope, copy_images)


def export_coco_results(repo: Repository, out_path: str | Path, image_ids: Sequence[int] | None = None,
                        model_version_id: int | None = None) -> Path:
    """Model predictions in the COCO results format; image ids match those of :func:`export_coco`."""
    out_path = Path(out_path)
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
