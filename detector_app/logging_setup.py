"""Logging to the console and to a rotating file in the user log folder.

The terminal gets one line per message, never a traceback: tracebacks (and records marked with
``extra=FILE_ONLY``, such as a plugin failure the CLI reports in its own ``error:`` line) go to the log file only.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from detector_app.paths import app_paths

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# ``log.error(..., extra=FILE_ONLY)``: written to the log file, not shown on the terminal.
FILE_ONLY = {"console": False}


class ConsoleFormatter(logging.Formatter):
    """``LEVEL: first line of the message``: no traceback, no stack, nothing after a newline."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().strip().splitlines()
        return f"{record.levelname}: {message[0] if message else ''}"


def _for_console(record: logging.LogRecord) -> bool:
    return getattr(record, "console", True) is not False


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
        stream.setFormatter(ConsoleFormatter())
        stream.addFilter(_for_console)
        root.addHandler(stream)
    root._detector_app_configured = True  # type: ignore[attr-defined]
    return log_file
