"""The modes new files and folders get from the user's umask (0644/0755 by default), not the 0600/0700 of
``mkstemp``/``mkdtemp``."""

from __future__ import annotations

import os
from pathlib import Path


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
