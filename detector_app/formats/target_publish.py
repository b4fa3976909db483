"""Publishing an export into its target folder, crash-safe (see :mod:`detector_app.formats.target`).

The exporter writes into a staging folder ``.detector-app-staging-*`` inside the target (marked by a
``.detector-app-staging`` file). Publishing writes a journal, moves the previous export's files into the staging
folder, moves the new files in, and commits by replacing the manifest (one rename). :func:`recover_locked`
completes a committed publish or rolls back an uncommitted one after a SIGKILL at any moment, then removes stale
staging folders that carry the marker (and nothing else). One export at a time per target: :func:`locked`.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector_app import __version__
from detector_app.errors import DetectorAppError
from detector_app.formats.file_modes import dir_mode, file_mode
from detector_app.formats.target_manifest import (
    JOURNAL,
    MANIFEST,
    MANIFEST_KIND,
    RESERVED,
    STAGING_MARKER,
    STAGING_PREFIX,
    ExportTargetError,
    PreviousExport,
    ancestors,
    confined,
    export_key,
    manifest_id,
    marker_is_ours,
    marker_text,
    safe_relative,
    signed,
    verify,
)

FILES = "files"  # inside a staging folder: the new export, laid out as in the target
_OLD = "previous"  # inside a staging folder: the previous export's files while publishing


# --- staging ---------------------------------------------------------------------------------------


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """One export at a time per target (an advisory lock on the folder itself, released if we are killed)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock on folders
        yield
        return
    try:
        fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise ExportTargetError(f"cannot open the export folder {out}: {reason(exc)}") from exc
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


def new_stage(out: Path) -> Path:
    export_key()  # a key that cannot be made refuses the export before anything is written
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
        (stage / STAGING_MARKER).write_text(marker_text(stage.name))
        (stage / FILES).mkdir()
    except OSError as exc:
        raise ExportTargetError(f"cannot write to the export folder {out}: {reason(exc)}; nothing was "
                                "written") from exc
    return stage


def path_inside(result: Path, files_dir: Path) -> Path:
    path = result if result.is_absolute() else files_dir / result
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(files_dir))
    except ValueError:
        raise ValueError(f"the exporter returned {result}, which is outside the folder it was given") from None


def collect(files_dir: Path) -> tuple[list[str], list[str]]:
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


def publish(out: Path, stage: Path, fmt: str, previous: PreviousExport | None, owned: list[str],
             new_files: list[str], new_dirs: list[str]) -> None:
    """Journal, move the previous files aside, move the new ones in, commit with the manifest, clean up."""
    old_dirs = set(previous.dirs) if previous else set()
    needed_dirs = sorted({d for rel in new_files for d in ancestors(rel)} | set(new_dirs))
    created_dirs = [d for d in needed_dirs if not os.path.lexists(out / d) or d in owned]
    owned_dirs = sorted({d for d in needed_dirs if d in old_dirs} | set(created_dirs))
    export_id = secrets.token_hex(8)
    journal = signed("journal", {"kind": MANIFEST_KIND, "stage": stage.name, "export_id": export_id, "old": owned,
                                 "new": new_files, "created_dirs": created_dirs,
                                 "old_dirs": sorted(old_dirs - set(owned_dirs))})
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
            os.replace(stage / FILES / rel, target)
            touched.add(target.parent)
        for folder in touched:
            _fsync_dir(folder)
        files = [{"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
                 for rel in new_files for st in [os.lstat(out / rel)]]
        manifest = signed("manifest", {"kind": MANIFEST_KIND, "app": "detector-app", "version": __version__,
                                       "format": fmt, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                                       "export_id": export_id, "dirs": owned_dirs, "files": files})
        _write_file(out / MANIFEST, json.dumps(manifest, indent=1).encode(), stage)  # the commit
        _fsync_dir(out)
    except BaseException as exc:
        try:
            recover_locked(out)
        except (OSError, DetectorAppError):
            if not isinstance(exc, OSError):
                raise exc from None
            raise ExportTargetError(f"export to {out} failed while publishing ({reason(exc)}) and the previous "
                                    f"export could not be restored yet; the next export into {out} will "
                                    "restore it") from exc
        if not isinstance(exc, OSError):
            raise  # interrupted (Ctrl+C): rolled back, the interruption goes on
        raise ExportTargetError(f"export to {out} failed while publishing, the previous export was kept: "
                                f"{reason(exc)}") from exc
    _finish(out, stage, journal, committed=True)


def recover_locked(out: Path) -> None:
    """Complete or roll back a publish interrupted by a kill, then remove stale staging folders. Only a journal
    signed by this installation is acted upon; any other refuses the export and nothing is touched."""
    journal_path = out / JOURNAL
    try:
        if os.path.lexists(journal_path):
            journal = _read_journal(out)
            stage = out / journal["stage"]
            committed = manifest_id(out) == journal["export_id"]
            if not committed and _real_dir(stage):  # without it nothing tells the new files from others
                _roll_back(out, stage, journal["new"], journal["old"], journal["created_dirs"])
            _finish(out, stage, journal, committed)
        _remove_stale_stages(out)
    except OSError as exc:
        raise ExportTargetError(f"cannot repair the export folder {out} after an interrupted export: "
                                f"{reason(exc)}") from exc


def _read_journal(out: Path) -> dict[str, Any]:
    journal_path = out / JOURNAL
    foreign = ExportTargetError(f"{out} holds an export journal detector-app did not write ({JOURNAL}); nothing "
                                "was written or deleted: move it away or choose a new or empty folder")
    try:
        if not stat.S_ISREG(os.lstat(journal_path).st_mode) or os.path.getsize(journal_path) > 256 * 1024 * 1024:
            raise foreign
        data = json.loads(journal_path.read_bytes())
    except (ValueError, RecursionError):
        raise foreign from None
    if not verify("journal", data):
        raise foreign
    try:
        name = data["stage"]
        if (not isinstance(name, str) or not name.startswith(STAGING_PREFIX) or "/" in name or "\\" in name
                or "\x00" in name or name in (".", "..")):
            raise ValueError("not a staging folder")
        lists = {}
        for key in ("new", "old", "created_dirs", "old_dirs"):
            lists[key] = [safe_relative(rel, ValueError(f"{key}: {rel!r}")) for rel in data.get(key, [])]
        return {"stage": name, "export_id": str(data["export_id"]), **lists}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportTargetError(f"{journal_path}, left by an interrupted export, is damaged ({exc}); "
                                "move the folder's files away by hand") from None


def _real_dir(path: Path) -> bool:
    """``path`` is a real folder (not a symlink to one, not a file)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _roll_back(out: Path, stage: Path, new: list[str], old: list[str], created_dirs: list[str]) -> None:
    staged = stage / FILES
    for rel in reversed(new):
        # Moved in (gone from the staging folder): ours, since the conflict check found no other file there.
        if not (confined(out, rel) and confined(staged, rel)):
            continue
        target = out / rel
        if os.path.lexists(target) and not os.path.lexists(staged / rel) and not _real_dir(target):
            os.unlink(target)
    for rel in old:
        backup = stage / _OLD / rel
        if confined(stage / _OLD, rel) and confined(out, rel) and os.path.lexists(backup):
            _move(backup, out / rel)
    remove_empty(out / d for d in sorted(created_dirs, key=len, reverse=True) if confined(out, d))
    _fsync_dir(out)


def _finish(out: Path, stage: Path, journal: dict[str, Any], committed: bool) -> None:
    """After the commit (or a rollback): drop folders only the previous export used, the journal, the stage."""
    if committed:
        remove_empty(out / d for d in sorted(map(str, journal.get("old_dirs", [])), key=len, reverse=True)
                     if confined(out, d))
    (out / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(out)
    remove_stage(stage)


def _remove_stale_stages(out: Path) -> None:
    """Staging folders left by a killed export: only real folders named as ours whose marker this installation
    signed (or still empty: killed between creating the folder and marking it)."""
    for entry in out.iterdir():
        if not entry.name.startswith(STAGING_PREFIX) or not _real_dir(entry):
            continue
        if marker_is_ours(entry):
            remove_stage(entry)
        else:
            _remove_half_marked(entry)
            remove_empty([entry])


def _remove_half_marked(stage: Path) -> None:
    """A staging folder killed while its marker was being written holds only that marker, cut short: the
    marker goes (the folder then goes as an empty one). Anything else in it keeps the marker too."""
    marker = stage / STAGING_MARKER
    try:
        if [p.name for p in stage.iterdir()] != [STAGING_MARKER] or not stat.S_ISREG(os.lstat(marker).st_mode):
            return
        fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            content = f.read(4096)
        if marker_text(stage.name).encode().startswith(content) and len(content) < len(marker_text(stage.name)):
            os.unlink(marker)
    except OSError:
        pass


def remove_stage(stage: Path) -> None:
    """Everything but the marker, then the marker, then the folder: killed half way, it is still recognised.
    Never through a symlink: a stage that is not a real folder is left alone, and so is each entry's target."""
    if not _real_dir(stage):
        return
    try:
        entries = list(stage.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name == STAGING_MARKER:
            continue
        if _real_dir(entry):
            shutil.rmtree(entry, ignore_errors=True)  # refuses a symlink root, never follows links inside
        else:
            try:
                os.unlink(entry)
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                pass
    (stage / STAGING_MARKER).unlink(missing_ok=True)
    remove_empty([stage])


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


def remove_empty(folders: Any) -> None:
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            pass


def reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
