"""What an export target folder holds: the names it reserves, the manifest of the export in it, and the rule
for the relative paths a manifest or journal may name (see :mod:`detector_app.formats.target`)."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from detector_app.errors import DetectorAppError

MANIFEST = ".detector-app-export.json"
JOURNAL = ".detector-app-export.journal"
STAGING_PREFIX = ".detector-app-staging-"
STAGING_MARKER = ".detector-app-staging"
RESERVED = (MANIFEST, JOURNAL, STAGING_MARKER)
MANIFEST_KIND = "detector-app export"


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


def read_manifest(out: Path) -> PreviousExport | None:
    path = out / MANIFEST
    if not os.path.lexists(path):
        return None
    damaged = ExportTargetError(f"the export manifest {path} is damaged; nothing was written: choose a new or "
                                "empty folder")
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or os.path.getsize(path) > 256 * 1024 * 1024:
            raise damaged
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("kind") != MANIFEST_KIND:
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
    """The export id of the manifest in ``out`` (None when there is none or it cannot be read)."""
    try:
        return json.loads((out / MANIFEST).read_bytes()).get("export_id")
    except (OSError, ValueError, AttributeError):
        return None


def safe_relative(rel: object, error: Exception) -> str:
    """A relative POSIX path naming something inside the target (never a reserved name, never ``..``)."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise error
    pure = PurePosixPath(rel)
    if (pure.is_absolute() or any(part in ("", ".", "..") for part in rel.split("/")) or pure.parts[0] in RESERVED
            or pure.parts[0].startswith(STAGING_PREFIX)):
        raise error
    return pure.as_posix()


def ancestors(rel: str) -> list[str]:
    """The folders leading to ``rel``, outermost first (``a``, ``a/b`` for ``a/b/c``)."""
    parts = PurePosixPath(rel).parts
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
