"""What an export target folder holds: the names it reserves, the manifest of the export in it, and the rule
for the relative paths a manifest or journal may name (see :mod:`detector_app.formats.target`).

The manifest, the journal and the staging marker carry an HMAC-SHA256 keyed by a per-installation secret
(:func:`export_key`, created once, mode 0600, in the app's config folder): a manifest, journal or marker that does
not verify was not written by this installation and is never acted upon (nothing is replaced, rolled back or
deleted on its word). Exports written before the signatures existed are refused once like any foreign folder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from detector_app.errors import DetectorAppError

MANIFEST = ".detector-app-export.json"
JOURNAL = ".detector-app-export.journal"
STAGING_PREFIX = ".detector-app-staging-"
STAGING_MARKER = ".detector-app-staging"
RESERVED = (MANIFEST, JOURNAL, STAGING_MARKER)
MANIFEST_KIND = "detector-app export"
SIGNATURE = "signature"  # the key of the HMAC in the manifest and the journal
KEY_FILE = "export-signing.key"
_KEY_BYTES = 32
_keys: dict[str, bytes] = {}


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


# --- the per-installation key and the signatures ---------------------------------------------------------


def export_key() -> bytes:
    """This installation's secret for signing manifests, journals and staging markers (created once, 0600)."""
    from detector_app.paths import app_paths

    folder = app_paths().config
    path = folder / KEY_FILE
    cached = _keys.get(str(path))
    if cached is not None:
        return cached
    try:
        key = _read_key(path)
        if key is None:
            folder.mkdir(parents=True, exist_ok=True)
            key = _create_key(path)
    except OSError as exc:
        raise ExportTargetError(f"cannot read or create the export signing key {path}: "
                                f"{exc.strerror or exc}; nothing was written") from exc
    _keys[str(path)] = key
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size != _KEY_BYTES:
        return None  # damaged: replaced by a new key (exports signed with the old one are refused once)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        key = f.read(_KEY_BYTES + 1)
    return key if len(key) == _KEY_BYTES else None


def _create_key(path: Path) -> bytes:
    """Written atomically (a 0600 temporary file, fsync, then linked into place without replacing a key another
    process made meanwhile: that one wins)."""
    key = secrets.token_bytes(_KEY_BYTES)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        if os.path.lexists(path):  # a damaged key
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                other = _read_key(path)
                if other is not None:
                    return other
                os.replace(tmp, path)
            except OSError:  # no hard links on this file system
                os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return key


def sign(kind: str, data: dict[str, Any]) -> str:
    """The HMAC of ``data`` (without its signature), for a document of ``kind`` ("manifest", "journal")."""
    body = {k: v for k, v in data.items() if k != SIGNATURE}
    message = kind.encode() + b"\x00" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(export_key(), message, hashlib.sha256).hexdigest()


def signed(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {**data, SIGNATURE: sign(kind, data)}


def verify(kind: str, data: object) -> bool:
    """True when ``data`` is a JSON object carrying this installation's signature for ``kind``."""
    if not isinstance(data, dict) or not isinstance(data.get(SIGNATURE), str):
        return False
    try:
        expected = sign(kind, data)
    except (TypeError, ValueError, RecursionError):
        return False
    return hmac.compare_digest(expected, data[SIGNATURE])


def marker_text(stage_name: str) -> str:
    """The content of a staging folder's marker: signed with the folder's name."""
    mac = hmac.new(export_key(), b"stage\x00" + stage_name.encode(), hashlib.sha256).hexdigest()
    return f"staging folder of a detector-app export; safe to delete\n{SIGNATURE}: {mac}\n"


def marker_is_ours(stage: Path) -> bool:
    """The staging folder ``stage`` is a real folder whose marker is a real file signed for its name."""
    marker = stage / STAGING_MARKER
    try:
        if not stat.S_ISDIR(os.lstat(stage).st_mode) or not stat.S_ISREG(os.lstat(marker).st_mode):
            return False
        fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            content = f.read(4096)
    except OSError:
        return False
    return hmac.compare_digest(content, marker_text(stage.name).encode())


# --- the manifest ----------------------------------------------------------------------------------------


def _load_signed_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest's JSON if it is a real file signed by this installation, else None (not ours)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or os.path.getsize(path) > 256 * 1024 * 1024:
            return None
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, RecursionError):
        return None
    return data if verify("manifest", data) else None


def read_manifest(out: Path) -> PreviousExport | None:
    """The previous export in ``out``; None when there is no manifest or it was not written (signed) by this
    installation: such a folder holds no export of ours."""
    path = out / MANIFEST
    if not os.path.lexists(path):
        return None
    damaged = ExportTargetError(f"the export manifest {path} is damaged; nothing was written: choose a new or "
                                "empty folder")
    data = _load_signed_manifest(path)
    if data is None:
        return None
    try:
        if data.get("kind") != MANIFEST_KIND:
            raise damaged
        files = {}
        for entry in data["files"]:
            rel, size, mtime = entry["path"], entry["size"], entry["mtime_ns"]
            if not (isinstance(size, int) and isinstance(mtime, int)):
                raise damaged
            files[safe_relative(rel, damaged)] = (size, mtime)
        dirs = tuple(safe_relative(d, damaged) for d in data.get("dirs", []))
        return PreviousExport(str(data.get("format", "")), str(data.get("version", "")),
                              str(data.get("created", "")), str(data["export_id"]), files, dirs)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise damaged from None


def manifest_id(out: Path) -> str | None:
    """The export id of the manifest in ``out`` (None when there is none, it cannot be read or is not ours)."""
    try:
        data = _load_signed_manifest(out / MANIFEST)
    except OSError:
        return None
    return str(data.get("export_id")) if data is not None else None


def manifest_is_foreign(out: Path) -> bool:
    """``out`` holds a manifest that this installation did not write (or that was changed)."""
    return os.path.lexists(out / MANIFEST) and manifest_id(out) is None


def safe_relative(rel: object, error: Exception) -> str:
    """A relative POSIX path naming something inside the target (never a reserved name, never ``..``)."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise error
    pure = PurePosixPath(rel)
    if (pure.is_absolute() or any(part in ("", ".", "..") for part in rel.split("/")) or pure.parts[0] in RESERVED
            or pure.parts[0].startswith(STAGING_PREFIX)):
        raise error
    return pure.as_posix()


def confined(out: Path, rel: str) -> bool:
    """``rel`` (already :func:`safe_relative`) is reached from ``out`` through real folders only (no symlinked
    or non-folder parent): touching ``out / rel`` stays inside ``out``."""
    for folder in ancestors(rel):
        try:
            if not stat.S_ISDIR(os.lstat(out / folder).st_mode):
                return False
        except FileNotFoundError:
            return True
    return True


def ancestors(rel: str) -> list[str]:
    """The folders leading to ``rel``, outermost first (``a``, ``a/b`` for ``a/b/c``)."""
    parts = PurePosixPath(rel).parts
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
