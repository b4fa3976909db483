"""An export target folder: the one place that decides what an export may write, replace or delete.

Every export (COCO built in, YOLO/VOC and other exporter plugins) goes through :func:`export_into`:

* **What may be written.** A target is a folder that does not exist yet, an empty folder, or a folder holding a
  previous export of this app: the manifest ``.detector-app-export.json`` lists every file that export wrote (with
  its size and modification time). Any other non-empty folder is refused before anything is written. An export
  replaces only files of the previous manifest that are unchanged since (same size and time), and never touches
  anything else: files the user put beside an export, even inside ``images/``, survive. A new file whose name is
  taken by a file the app did not write refuses the whole export.
* **Crash safety.** The exporter writes into a staging folder ``.detector-app-staging-*`` inside the target
  (marked by a ``.detector-app-staging`` file). Publishing writes a journal, moves the previous export's files
  into the staging folder, moves the new files in, and commits by replacing the manifest (one rename). After a
  SIGKILL at any moment, the next export into the target (or :func:`recover`) completes a committed publish or
  rolls back an uncommitted one, restoring the previous export, then removes stale staging folders that carry
  the marker (and nothing else).
* **Modes.** Files and folders the export creates follow the user's umask (0644/0755 by default), not the
  0600/0700 of ``mkstemp``/``mkdtemp``.
* **Errors.** A folder that cannot be created or written is reported as such (:class:`ExportTargetError`)
  before the exporter runs, so a read-only folder is never blamed on a plugin. A failed exporter leaves the
  target exactly as it was (a folder created for it is removed again).

The manifest and the names a target reserves are in :mod:`~detector_app.formats.target_manifest`, publishing and
recovery in :mod:`~detector_app.formats.target_publish`, the umask's modes in
:mod:`~detector_app.formats.file_modes`; this module decides what an export may do and runs it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detector_app.formats.file_modes import dir_mode, file_mode, umask
from detector_app.formats.target_manifest import (
    JOURNAL,
    MANIFEST,
    RESERVED,
    STAGING_MARKER,
    STAGING_PREFIX,
    ExportTargetError,
    PreviousExport,
    confined,
    manifest_is_foreign,
    read_manifest,
)
from detector_app.formats.target_publish import (
    FILES,
    collect,
    locked,
    new_stage,
    path_inside,
    publish,
    reason,
    recover_locked,
    remove_empty,
    remove_stage,
)

__all__ = [
    "JOURNAL",
    "MANIFEST",
    "RESERVED",
    "STAGING_MARKER",
    "STAGING_PREFIX",
    "ExportTargetError",
    "PreviousExport",
    "check_target",
    "dir_mode",
    "export_into",
    "file_mode",
    "recover",
    "umask",
]

_SHOWN = 3

# --- public API ------------------------------------------------------------------------------------


def export_into(out_dir: str | os.PathLike[str], write: Callable[[Path], Any], fmt: str) -> Path:
    """Run ``write(folder)`` into a staging folder and publish what it wrote into ``out_dir``.

    ``write`` gets an empty folder, writes the export there and returns its main file (or folder), inside that
    folder; the same path inside ``out_dir`` is returned. If ``write`` raises, ``out_dir`` is left exactly as it
    was and the exception propagates unchanged. Refusals and publishing failures raise
    :class:`ExportTargetError`.
    """
    out = Path(out_dir).expanduser().absolute()
    created = _make_folder(out)
    try:
        with locked(out):
            recover_locked(out)
            previous = _check_target(out)
            stage = new_stage(out)
            try:
                files_dir = stage / FILES
                result = write(files_dir)
                inside = path_inside(Path(result), files_dir)
                new_files, new_dirs = collect(files_dir)
                owned = _check_conflicts(out, previous, new_files, new_dirs)
                publish(out, stage, fmt, previous, owned, new_files, new_dirs)
            finally:
                if not os.path.lexists(out / JOURNAL):  # else it holds what the next run needs to recover
                    remove_stage(stage)
    except BaseException:
        remove_empty(reversed(created))
        raise
    return out / inside


def check_target(out_dir: str | os.PathLike[str]) -> PreviousExport | None:
    """The previous export in ``out_dir`` (None for a missing or empty folder); raises
    :class:`ExportTargetError` for a folder an export would refuse. Reads only (the GUI asks with it)."""
    out = Path(out_dir).expanduser().absolute()
    if not out.exists():
        return None
    if not out.is_dir():
        raise ExportTargetError(f"{out} is a file, not a folder; choose a new or empty folder")
    return _check_target(out, ignore_staging=True)


def recover(out_dir: str | os.PathLike[str]) -> None:
    """Finish or undo a publish that was interrupted (SIGKILL, power loss) and remove stale staging folders.

    Every export into ``out_dir`` does this first; call it to repair a folder without exporting.
    """
    out = Path(out_dir).expanduser().absolute()
    if not out.is_dir():
        return
    with locked(out):
        recover_locked(out)


# --- checks ----------------------------------------------------------------------------------------


def _make_folder(out: Path) -> list[Path]:
    """Create ``out`` (and missing parents); the folders created, outermost first."""
    if out.is_dir():
        return []
    if os.path.lexists(out):
        raise ExportTargetError(f"{out} is a file, not a folder; choose a new or empty folder")
    missing = []
    folder = out
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            remove_empty(reversed(created))
            raise ExportTargetError(f"cannot create the export folder {folder}: {reason(exc)}") from exc
        created.append(folder)
    return created


def _check_target(out: Path, ignore_staging: bool = False) -> PreviousExport | None:
    try:
        previous = read_manifest(out)
        if previous is not None:
            return previous
        entries = [p.name for p in out.iterdir()
                   if not (ignore_staging and (p.name.startswith(STAGING_PREFIX) or p.name == JOURNAL))]
    except OSError as exc:
        raise ExportTargetError(f"cannot read the export folder {out}: {reason(exc)}") from exc
    if entries:
        why = (f"its {MANIFEST} was not written by detector-app here or was changed" if manifest_is_foreign(out)
               else f"no {MANIFEST}")
        raise ExportTargetError(f"{out} is not empty and holds no previous export of detector-app ({why}); "
                                "nothing was written: choose a new or empty folder")
    return None


def _is_ours(out: Path, rel: str, previous: PreviousExport) -> bool:
    """The previous export's file ``rel`` is still what it wrote: a file (not a folder), reached through real
    folders, with the size and time recorded. Anything else belongs to the user now."""
    if not confined(out, rel):
        return False
    try:
        st = os.lstat(out / rel)
    except OSError:
        return False
    if stat.S_ISDIR(st.st_mode):
        return False
    return (st.st_size, st.st_mtime_ns) == previous.files[rel]


def _check_conflicts(out: Path, previous: PreviousExport | None, new_files: list[str],
                     new_dirs: list[str]) -> list[str]:
    """The previous export's files that may be replaced; refuses names taken by files the app did not write."""
    owned = [rel for rel in (previous.files if previous else {}) if _is_ours(out, rel, previous)]
    owned_set = set(owned)
    taken = []
    for folder in new_dirs:
        path = out / folder
        if os.path.lexists(path) and not path.is_dir() and folder not in owned_set:
            taken.append(folder)
        elif path.is_symlink() and folder not in owned_set:
            taken.append(folder)
    for rel in new_files:
        if rel not in owned_set and os.path.lexists(out / rel):
            taken.append(rel)
    if taken:
        shown = ", ".join(taken[:_SHOWN]) + (f" and {len(taken) - _SHOWN} more" if len(taken) > _SHOWN else "")
        raise ExportTargetError(f"{out} already holds {shown}, not written by a previous export of detector-app "
                                "(or changed since); nothing was written: move them away or choose a new or "
                                "empty folder")
    return owned


