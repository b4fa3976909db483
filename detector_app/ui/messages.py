"""What the banner says: errors, hints, and for a read-only project a standing note."""

from __future__ import annotations

import logging

from detector_app.ui.banner import Banner

log = logging.getLogger(__name__)

READ_ONLY_NOTE = "This project is read-only"


class Messages:
    """The one place controllers report to the person: errors, information, the read-only note."""

    def __init__(self, banner: Banner) -> None:
        self.banner = banner
        self._read_only_reason: str | None = None
        self._read_only = False

    def show_error(self, message: str) -> None:
        log.warning("%s", message)
        self.banner.show_message(message, "error")

    def show_info(self, message: str, timeout_ms: int = 0) -> None:
        self.banner.show_message(message, "info", timeout_ms)

    def show_note(self, message: str) -> None:
        """A standing note (until dismissed or replaced); a read-only project's note stays above it."""
        self.banner.show_message(f"{self._read_only_note()}\n{message}" if self._read_only else message, "info")

    def clear(self) -> None:
        """Hide the banner; for a read-only project it goes back to saying so."""
        if self._read_only:
            self.banner.show_message(self._read_only_note(), "info")
        else:
            self.banner.hide()

    def set_read_only(self, read_only: bool, reason: str | None = None) -> None:
        self._read_only, self._read_only_reason = read_only, reason
        if read_only:
            self.clear()  # shows the note
        elif self.banner.text.startswith(READ_ONLY_NOTE):
            self.banner.hide()  # the previous project's note

    def _read_only_note(self) -> str:
        return (f"{READ_ONLY_NOTE} ({self._read_only_reason}): you can browse, detect and export labels, "
                "but changes are not saved.")

