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
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from detector_app import __version__
from detector_app.errors import DetectorAppError

MANIFEST = ".detector-app-export.json"
JOURNAL = ".detector-app-export.journal"
STAGING_PREFIX = ".detector-app-staging-"
STAGING_MARKER = ".detector-app-staging"
RESERVED = (MANIFEST, JOURNAL, STAGING_MARKER)
_FILES = "files"  # inside a staging folder: the new export, laid out as in the target
_OLD = "previous"  # inside a staging folder: the previous export's files while publishing
_MANIFEST_KIND = "detector-app export"
_SHOWN = 3


class ExportTargetError(DetectorAppError):
    """The export folder cannot take this export (not ours, not writable, busy); nothing was written."""


@dataclass(frozen=True)
class PreviousExport:
    """What the manifest of a target says about the export it holds."""

    format: str
    version: str
    created: str
    export_id: str
    files: dict[str, tuple[int, int]]  # relative POSIX path -> (size, mtime_ns) as written
    dirs: tuple[str, ...]  # folders that export created


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
        with _locked(out):
            _recover_locked(out)
            previous = _check_target(out)
            stage = _new_stage(out)
            try:
                files_dir = stage / _FILES
                result = write(files_dir)
                inside = _inside(Path(result), files_dir)
                new_files, new_dirs = _collect(files_dir)
                owned = _check_conflicts(out, previous, new_files, new_dirs)
                _publish(out, stage, fmt, previous, owned, new_files, new_dirs)
            finally:
                if not os.path.lexists(out / JOURNAL):  # else it holds what the next run needs to recover
                    _remove_stage(stage)
    except BaseException:
        _remove_empty(reversed(created))
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
    with _locked(out):
        _recover_locked(out)


def umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()``: 0o666 less the umask."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    return 0o777 & ~umask()


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
            _remove_empty(reversed(created))
            raise ExportTargetError(f"cannot create the export folder {folder}: {_reason(exc)}") from exc
        created.append(folder)
    return created


def _check_target(out: Path, ignore_staging: bool = False) -> PreviousExport | None:
    try:
        previous = _read_manifest(out)
        if previous is not None:
            return previous
        entries = [p.name for p in out.iterdir()
                   if not (ignore_staging and (p.name.startswith(STAGING_PREFIX) or p.name == JOURNAL))]
    except OSError as exc:
        raise ExportTargetError(f"cannot read the export folder {out}: {_reason(exc)}") from exc
    if entries:
        raise ExportTargetError(f"{out} is not empty and holds no previous export of detector-app (no {MANIFEST}); "
                                "nothing was written: choose a new or empty folder")
    return None


def _read_manifest(out: Path) -> PreviousExport | None:
    path = out / MANIFEST
    if not os.path.lexists(path):
        return None
    damaged = ExportTargetError(f"the export manifest {path} is damaged; nothing was written: choose a new or "
                                "empty folder")
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or os.path.getsize(path) > 256 * 1024 * 1024:
            raise damaged
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("kind") != _MANIFEST_KIND:
            raise damaged
        files = {}
        for entry in data["files"]:
            rel, size, mtime = entry["path"], entry["size"], entry["mtime_ns"]
            if not (isinstance(size, int) and isinstance(mtime, int)):
                raise damaged
            files[_safe_relative(rel, damaged)] = (size, mtime)
        dirs = tuple(_safe_relative(d, damaged) for d in data.get("dirs", []))
        return PreviousExport(str(data.get("format", "")), str(data.get("version", "")),
                              str(data.get("created", "")), str(data["export_id"]), files, dirs)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise damaged from None


def _safe_relative(rel: object, error: Exception) -> str:
    """A relative POSIX path naming something inside the target (never a reserved name, never ``..``)."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise error
    pure = PurePosixPath(rel)
    if (pure.is_absolute() or any(part in ("", ".", "..") for part in rel.split("/")) or pure.parts[0] in RESERVED
            or pure.parts[0].startswith(STAGING_PREFIX)):
        raise error
    return pure.as_posix()


def _ancestors(rel: str) -> list[str]:
    parts = PurePosixPath(rel).parts
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _real_folders(out: Path, rel: str) -> bool:
    """True when every folder between ``out`` and ``rel`` is a real folder (no symlink leading elsewhere)."""
    for folder in _ancestors(rel):
        try:
            if not stat.S_ISDIR(os.lstat(out / folder).st_mode):
                return False
        except FileNotFoundError:
            return True
    return True


def _is_ours(out: Path, rel: str, previous: PreviousExport) -> bool:
    """The previous export's file ``rel`` is still what it wrote: a file (not a folder), reached through real
    folders, with the size and time recorded. Anything else belongs to the user now."""
    if not _real_folders(out, rel):
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


# --- staging ---------------------------------------------------------------------------------------


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One export at a time per target (an advisory lock on the folder itself, released if we are killed)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock on folders
        yield
        return
    try:
        fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise ExportTargetError(f"cannot open the export folder {out}: {_reason(exc)}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportTargetError(f"another export into {out} is running; try again when it has finished") from None
        except OSError:
            pass  # a file system without locks: go on unlocked
        yield
    finally:
        os.close(fd)


def _new_stage(out: Path) -> Path:
    try:
        for _ in range(100):
            stage = out / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
            try:
                stage.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(errno.EEXIST, "no free staging folder name")
        (stage / STAGING_MARKER).write_text("staging folder of a detector-app export; safe to delete\n")
        (stage / _FILES).mkdir()
    except OSError as exc:
        raise ExportTargetError(f"cannot write to the export folder {out}: {_reason(exc)}; nothing was "
                                "written") from exc
    return stage


def _inside(result: Path, files_dir: Path) -> Path:
    path = result if result.is_absolute() else files_dir / result
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(files_dir))
    except ValueError:
        raise ValueError(f"the exporter returned {result}, which is outside the folder it was given") from None


def _collect(files_dir: Path) -> tuple[list[str], list[str]]:
    """Relative paths of every file and folder written (sorted); gives them the umask's modes."""
    files, dirs = [], []
    fmode, dmode = file_mode(), dir_mode()
    for root, dirnames, filenames in os.walk(files_dir):
        rel_root = Path(root).relative_to(files_dir)
        for name in dirnames + filenames:
            path = Path(root) / name
            rel = (rel_root / name).as_posix()
            if rel_root == Path(".") and (name in RESERVED or name.startswith(STAGING_PREFIX)):
                raise ValueError(f"the exporter wrote {name}, a name detector-app keeps for itself")
            if path.is_symlink():
                files.append(rel)  # a link is published as it is, never followed
            elif path.is_dir():
                dirs.append(rel)
                os.chmod(path, dmode)
            else:
                files.append(rel)
                os.chmod(path, fmode)
        dirnames[:] = [d for d in dirnames if not (Path(root) / d).is_symlink()]
    return sorted(files), sorted(dirs)


# --- publishing ------------------------------------------------------------------------------------


def _publish(out: Path, stage: Path, fmt: str, previous: PreviousExport | None, owned: list[str],
             new_files: list[str], new_dirs: list[str]) -> None:
    """Journal, move the previous files aside, move the new ones in, commit with the manifest, clean up."""
    old_dirs = set(previous.dirs) if previous else set()
    needed_dirs = sorted({d for rel in new_files for d in _ancestors(rel)} | set(new_dirs))
    created_dirs = [d for d in needed_dirs if not os.path.lexists(out / d) or d in owned]
    owned_dirs = sorted({d for d in needed_dirs if d in old_dirs} | set(created_dirs))
    export_id = secrets.token_hex(8)
    journal = {"kind": _MANIFEST_KIND, "stage": stage.name, "export_id": export_id, "old": owned,
               "new": new_files, "created_dirs": created_dirs, "old_dirs": sorted(old_dirs - set(owned_dirs))}
    try:
        _write_file(out / JOURNAL, json.dumps(journal).encode(), stage)
        _fsync_dir(out)
        for rel in owned:  # the previous export, kept until the commit
            _move(out / rel, stage / _OLD / rel)
        for folder in needed_dirs:
            path = out / folder
            if not path.is_dir():
                path.mkdir()
        touched = {out}
        for rel in new_files:
            target = out / rel
            os.replace(stage / _FILES / rel, target)
            touched.add(target.parent)
        for folder in touched:
            _fsync_dir(folder)
        files = [{"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
                 for rel in new_files for st in [os.lstat(out / rel)]]
        manifest = {"kind": _MANIFEST_KIND, "app": "detector-app", "version": __version__, "format": fmt,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"), "export_id": export_id,
                    "dirs": owned_dirs, "files": files}
        _write_file(out / MANIFEST, json.dumps(manifest, indent=1).encode(), stage)  # the commit
        _fsync_dir(out)
    except BaseException as exc:
        try:
            _recover_locked(out)
        except (OSError, DetectorAppError):
            if not isinstance(exc, OSError):
                raise exc from None
            raise ExportTargetError(f"export to {out} failed while publishing ({_reason(exc)}) and the previous "
                                    f"export could not be restored yet; the next export into {out} will "
                                    "restore it") from exc
        if not isinstance(exc, OSError):
            raise  # interrupted (Ctrl+C): rolled back, the interruption goes on
        raise ExportTargetError(f"export to {out} failed while publishing, the previous export was kept: "
                                f"{_reason(exc)}") from exc
    _finish(out, stage, journal, committed=True)


def _recover_locked(out: Path) -> None:
    journal_path = out / JOURNAL
    try:
        if os.path.lexists(journal_path):
            try:
                journal = json.loads(journal_path.read_bytes())
                stage = out / journal["stage"]
                if not journal["stage"].startswith(STAGING_PREFIX) or "/" in journal["stage"]:
                    raise ValueError("not a staging folder")
                new, old = [str(r) for r in journal["new"]], [str(r) for r in journal["old"]]
                for rel in (*new, *old):
                    _safe_relative(rel, ValueError(rel))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ExportTargetError(f"{journal_path}, left by an interrupted export, is damaged ({exc}); "
                                        "move the folder's files away by hand") from None
            committed = _manifest_id(out) == journal["export_id"]
            if not committed and stage.is_dir():  # without it nothing tells the new files from others
                _roll_back(out, stage, new, old, [str(d) for d in journal["created_dirs"]])
            _finish(out, stage, journal, committed)
        _remove_stale_stages(out)
    except OSError as exc:
        raise ExportTargetError(f"cannot repair the export folder {out} after an interrupted export: "
                                f"{_reason(exc)}") from exc


def _roll_back(out: Path, stage: Path, new: list[str], old: list[str], created_dirs: list[str]) -> None:
    for rel in reversed(new):
        # Moved in (gone from the staging folder): ours, since the conflict check found no other file there.
        if os.path.lexists(out / rel) and not os.path.lexists(stage / _FILES / rel):
            os.unlink(out / rel)
    for rel in old:
        backup = stage / _OLD / rel
        if os.path.lexists(backup):
            _move(backup, out / rel)
    _remove_empty(out / d for d in sorted(created_dirs, key=len, reverse=True))
    _fsync_dir(out)


def _finish(out: Path, stage: Path, journal: dict[str, Any], committed: bool) -> None:
    """After the commit (or a rollback): drop folders only the previous export used, the journal, the stage."""
    if committed:
        _remove_empty(out / d for d in sorted(map(str, journal.get("old_dirs", [])), key=len, reverse=True))
    (out / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(out)
    _remove_stage(stage)


def _manifest_id(out: Path) -> str | None:
    try:
        return json.loads((out / MANIFEST).read_bytes()).get("export_id")
    except (OSError, ValueError, AttributeError):
        return None


def _remove_stale_stages(out: Path) -> None:
    """Staging folders left by a killed export: only real folders named as ours that carry the marker (or are
    still empty: killed between creating the folder and marking it)."""
    for entry in out.iterdir():
        if not entry.name.startswith(STAGING_PREFIX) or entry.is_symlink() or not entry.is_dir():
            continue
        if (entry / STAGING_MARKER).is_file():
            _remove_stage(entry)
        else:
            _remove_empty([entry])


def _remove_stage(stage: Path) -> None:
    """Everything but the marker, then the marker, then the folder: killed half way, it is still recognised."""
    try:
        entries = list(stage.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name == STAGING_MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    (stage / STAGING_MARKER).unlink(missing_ok=True)
    _remove_empty([stage])


# --- small file system helpers -----------------------------------------------------------------------


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _write_file(path: Path, data: bytes, tmp_dir: Path) -> None:
    """Write in ``tmp_dir`` (same file system), fsync, rename over ``path``: never half a file; the umask's mode."""
    tmp = tmp_dir / f"{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_empty(folders: Any) -> None:
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            pass


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
