"""Logging to the console and to a rotating file in the user log folder."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from detector_app.paths import app_paths

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: int = logging.INFO, console: bool = True) -> Path:
    """Configure the root logger once; returns the log file path."""
    log_dir = app_paths().logs
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "detector-app.log"
    root = logging.getLogger()
    if getattr(root, "_detector_app_configured", False):
        return log_file
    root.setLevel(level)
    file_handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(file_handler)
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(logging.WARNING)
        stream.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(stream)
    root._detector_app_configured = True  # type: ignore[attr-defined]
    return log_file
