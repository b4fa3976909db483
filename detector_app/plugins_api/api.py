"""What a plugin implements: one of three small base classes.

A plugin is a class with four declarations (``name``, ``version``, ``api_version``, ``description``) and the
methods of its kind. Plugin modules list their classes in a module-level ``PLUGINS`` list (folders) or point an
entry point of the ``detector_app.plugins`` group at a class or a module (installed packages).

Nothing here imports Qt: plugins run in the CLI, in tests and in the GUI alike.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from detector_app.errors import DetectorAppError

if TYPE_CHECKING:  # only for annotations: keeps importing the API cheap (export and import start without numpy)
    import numpy as np

    from detector_app.core.detections import Detections
    from detector_app.core.labels import LabelSet
    from detector_app.storage import Repository

# The version of this API. A plugin declares the one it was written for; a different one is not loaded,
# so a plugin never runs against methods whose meaning has changed. Raise it on incompatible changes only.
API_VERSION = 1

ENTRY_POINT_GROUP = "detector_app.plugins"
KINDS = ("format", "exporter", "source", "detector")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

# What ``scope`` may be in an export: every image, reviewed images, or explicit image ids.
ExportScope = str | Sequence[int]


class PluginError(DetectorAppError):
    """A plugin could not be loaded or failed while running; the message names the plugin and the reason."""


class Plugin(ABC):
    """Common declarations. Subclass one of the kind classes below, not this one."""

    kind: ClassVar[str]
    name: ClassVar[str]  # unique, lower case: "yolo", "voc", "stream"
    version: ClassVar[str]  # the plugin's own version, e.g. "1.0"
    api_version: ClassVar[int]  # the API_VERSION the plugin was written for (required, never inherited)
    description: ClassVar[str] = ""


class FormatPlugin(Plugin):
    """A label format as a codec: ``write`` turns a label set into files, ``read`` (optional) files into a
    label set. No database: the app selects the labels, validates, writes in one transaction and publishes
    the output folder. ``name`` is the format name users type: ``detector-app export yolo``.
    """

    kind: ClassVar[str] = "format"

    @abstractmethod
    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        """Write ``labels`` into the empty folder ``out_dir``; return the main file or folder written.

        With ``copy_images`` put the images into ``out_dir`` too (``detector_app.formats.images.copy_images``).
        The app moves the folder into place only when this returns: raising leaves the user's folder as it was.
        """

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        """The labels at ``path`` for images in ``images_dir`` (None: the format's default place); raise
        ``ImportValidationError`` naming the problems. Image files are checked by the app afterwards."""
        raise PluginError(f"the {self.name} format can be exported but not imported")

    @classmethod
    def can_import(cls) -> bool:
        return cls.read is not FormatPlugin.read

    def can_read(self) -> bool:  # the ``Codec`` protocol's spelling
        return self.can_import()


class ExporterPlugin(Plugin):
    """A label format written straight from the project: ``export`` writes it, ``import_`` (optional) reads
    it into a project. Prefer :class:`FormatPlugin`; this kind suits formats that need more than the labels.

    ``name`` is the format name users type: ``detector-app export yolo``.
    """

    kind: ClassVar[str] = "exporter"

    @abstractmethod
    def export(self, repo: Repository, out_dir: Path, scope: ExportScope = "reviewed",
               copy_images: bool = False) -> Path:
        """Write the project's labels under ``out_dir`` (an empty folder) and return the main file or folder.

        The app passes a temporary folder and moves it into place only when this returns, so raising at any
        point leaves the user's folder untouched.
        """

    def import_(self, repo: Repository, path: Path, images_dir: Path | None) -> Any:
        """Read labels at ``path`` for the images in ``images_dir`` into ``repo``; return an import report
        (its ``str()`` is the one-line summary the CLI prints). ``images_dir=None``: the format's default."""
        raise PluginError(f"the {self.name} format can be exported but not imported")

    @classmethod
    def can_import(cls) -> bool:
        return cls.import_ is not ExporterPlugin.import_


class SourcePlugin(Plugin):
    """A new kind of input. ``open_source`` asks source plugins when no built-in source matches a spec."""

    kind: ClassVar[str] = "source"

    @abstractmethod
    def can_open(self, spec: str) -> bool:
        """Whether this plugin handles ``spec`` (cheap: look at the text, do not connect)."""

    @abstractmethod
    def open(self, spec: str) -> Any:
        """A ``detector_app.sources.FrameSource`` for ``spec``; raise ``SourceError`` with a clear message."""


class DetectionModel(ABC):
    """A loaded model of a detector plugin."""

    class_names: tuple[str, ...]  # index 0 is "__background__", as in the built-in models
    # The app calls predict from one thread at a time unless the model says it may run several frames at once.
    thread_safe: bool = False

    @abstractmethod
    def predict(self, image_bgr: np.ndarray) -> Detections:
        """Boxes for one BGR uint8 image in original pixel coordinates, labels indexing ``class_names``."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the model holds (sessions, files)."""


class DetectorPlugin(Plugin):
    """Another model family behind the same ``Detections`` output; chosen with ``--model plugin:NAME``."""

    kind: ClassVar[str] = "detector"

    @abstractmethod
    def load(self, options: str = "") -> DetectionModel:
        """Load the model. ``options`` is the text after ``plugin:NAME:`` (for example a file path)."""


KIND_CLASSES: dict[str, type[Plugin]] = {
    "format": FormatPlugin, "exporter": ExporterPlugin, "source": SourcePlugin, "detector": DetectorPlugin,
}
