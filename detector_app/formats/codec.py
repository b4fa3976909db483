"""What a label format is: a name, a writer and (optionally) a reader of label sets."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from detector_app.core.labels import LabelSet


@runtime_checkable
class Codec(Protocol):
    """A label format. ``write`` fills an empty folder; ``read`` raises ``ImportValidationError`` (one line
    naming the problems) for anything it cannot read, before the project is touched."""

    name: str  # what users type: ``detector-app export NAME``
    description: str

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        """Write ``labels`` into the empty folder ``out_dir``; return the main file or folder written.

        With ``copy_images`` the images go into the folder too (``formats.images.copy_images``) and the
        written file names are relative to where they went."""
        ...

    def can_read(self) -> bool:
        ...

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        """The labels at ``path`` for images in ``images_dir`` (None: the format's default place)."""
        ...
