"""All-or-nothing output for exporter plugins: a thin name over :func:`detector_app.formats.target.export_into`.

The target module owns every rule about the output folder (manifest, staging, crash-safe publishing, the user's
files never touched, modes following the umask); this keeps the plugin API's historical entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from detector_app.formats.target import export_into


def write_atomically(out_dir: Path, write: Callable[[Path], Path], fmt: str = "export") -> Path:
    """Call ``write(staging)`` and publish what it wrote into ``out_dir``; return its result inside ``out_dir``.

    If ``write`` raises, ``out_dir`` is left exactly as it was and the exception propagates. A folder that is
    not a previous export of this app, or that cannot be written, is refused before ``write`` runs
    (``ExportTargetError``).
    """
    return export_into(out_dir, write, fmt)
