"""Label formats by name: the built-in codecs and the enabled format plugins.

Built-in names are found without looking at plugins at all (no discovery, no plugin code runs). Any other
name asks the plugin manager, which knows the plugins from their probes and imports one only when it is used;
every call into plugin code goes through the manager's guard, so a failure names the plugin.
Nothing is cached here: the manager's records are the one source of truth (a plugin disabled in the GUI is
gone from the next lookup).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector_app.core.labels import LabelSet
from detector_app.core.names import printable
from detector_app.errors import DetectorAppError
from detector_app.formats.coco import CocoCodec
from detector_app.formats.codec import Codec
from detector_app.formats.mot import MotCodec
from detector_app.formats.target import RESERVED, STAGING_PREFIX
from detector_app.plugins_api.api import PluginError
from detector_app.plugins_api.manager import get_manager
from detector_app.plugins_api.records import DISABLED, FAILED

if TYPE_CHECKING:
    from detector_app.storage.repository import Repository

log = logging.getLogger(__name__)

BUILT_IN: dict[str, Codec] = {codec.name: codec for codec in (CocoCodec(), MotCodec())}
PLUGIN_KINDS = ("format", "exporter")  # FormatPlugin codecs; ExporterPlugin writes from the project itself


class UnknownFormatError(DetectorAppError):
    """No format of that name can import or export."""


@dataclass(frozen=True)
class LabelFormat:
    """A format found by name: a built-in codec, or a plugin reached through the manager's guard."""

    name: str
    description: str
    can_import: bool
    codec: Codec | None = None  # built in
    plugin_kind: str | None = None  # "format" or "exporter"

    @property
    def legacy(self) -> bool:
        """An ``ExporterPlugin``: it reads the project and writes it itself, not through a label set."""
        return self.plugin_kind == "exporter"

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        if self.codec is not None:
            return self.codec.write(labels, out_dir, copy_images)
        manager = get_manager()
        plugin = manager.format_plugin(self.name)
        return manager.run_guarded(self.name, "exporting",
                                   lambda: checked_result(plugin.write(labels, out_dir, copy_images), out_dir))

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        if not self.can_import:
            raise PluginError(f"the {self.name} format can be exported but not imported")
        if self.codec is not None:
            return self.codec.read(path, images_dir)
        manager = get_manager()
        plugin = manager.format_plugin(self.name)
        labels = manager.run_guarded(self.name, "importing", lambda: plugin.read(path, images_dir))
        if not isinstance(labels, LabelSet):
            raise manager.record_failure(self.name, "importing",
                                         TypeError(f"read() returned {type(labels).__name__}, not a LabelSet"))
        return labels

    def export_legacy(self, repo: Repository, out_dir: Path, scope: Any, copy_images: bool) -> Path:
        return get_manager().export(self.name, repo, out_dir, scope, copy_images)

    def import_legacy(self, repo: Repository, path: Path, images_dir: Path | None) -> Any:
        return get_manager().import_labels(self.name, repo, path, images_dir)


def checked_result(result: object, out_dir: Path) -> Path:
    """A plugin's ``write()`` result, checked inside its guarded call (so a bad one is the plugin's failure): a
    path (or text) inside ``out_dir``, and nothing written under a name detector-app keeps for itself."""
    if not isinstance(result, str | os.PathLike):
        raise TypeError(f"write() returned {type(result).__name__}, not the path of the file it wrote")
    path = Path(result)
    path = path if path.is_absolute() else out_dir / path
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(out_dir))
    except ValueError:
        raise ValueError(f"write() returned {printable(result)}, which is outside the folder it was given") from None
    try:
        names = os.listdir(out_dir)
    except OSError:
        names = []
    for name in sorted(names):
        if name in RESERVED or name.startswith(STAGING_PREFIX):
            raise ValueError(f"write() wrote {printable(name)}, a name detector-app keeps for itself")
    return path


def register_codec(codec: Codec, replace: bool = False) -> None:
    """Add a format in code (found like the built-ins, without plugin discovery)."""
    key = codec.name.lower()
    if key in BUILT_IN and not replace:
        raise ValueError(f"a format called {codec.name!r} is already registered")
    BUILT_IN[key] = codec


def find_format(name: str, direction: str = "export") -> LabelFormat:
    """The format called ``name`` (case-insensitive) for ``direction`` ("export" or "import")."""
    key = name.lower()
    codec = BUILT_IN.get(key)
    if codec is not None:
        return LabelFormat(codec.name, codec.description, codec.can_read(), codec=codec)
    found = _plugin_formats().get(key)
    if found is None or (direction == "import" and not found.can_import):
        known = ", ".join(format_names(direction)) or "none"
        message = f"no {direction} format called {name!r} (available: {known})"
        why = _why_unusable(key) if found is None else ""
        raise PluginError(f"{message}: {why}") if why else UnknownFormatError(message)
    return found


def _why_unusable(key: str) -> str:
    """For a format plugin that exists but is disabled or failed: why it cannot be used."""
    for record in get_manager().records():
        if record.name.lower() != key or record.kind not in PLUGIN_KINDS:
            continue
        if record.state == DISABLED:
            return f"plugin {record.name!r} is disabled; enable it with `detector-app plugins enable {record.name}`"
        if record.state == FAILED and record.error:
            return f"plugin {record.name!r} could not be loaded: {record.error}"
    return ""


def format_names(direction: str = "export") -> list[str]:
    """Every format that can ``direction``, built-in and plugin, sorted."""
    formats = {**_plugin_formats(), **{n: LabelFormat(n, c.description, c.can_read(), codec=c)
                                       for n, c in BUILT_IN.items()}}
    return sorted(n for n, f in formats.items() if direction == "export" or f.can_import)


def describe_formats() -> list[LabelFormat]:
    """Every format with its description, built-ins first."""
    plugins = _plugin_formats()
    return ([LabelFormat(n, c.description, c.can_read(), codec=c) for n, c in BUILT_IN.items()]
            + [plugins[n] for n in sorted(plugins)])


def _plugin_formats() -> dict[str, LabelFormat]:
    """Enabled format plugins by lower-case name, from the manager's records (nothing is imported)."""
    try:
        manager = get_manager()
        records = {name: record for kind in PLUGIN_KINDS for name, record in manager.available(kind).items()}
    except Exception:  # discovery itself failing (not one plugin) must still leave the built-ins working
        log.error("plugin discovery failed; only built-in formats are available", exc_info=True)
        return {}
    out = {}
    for name, record in records.items():
        if name.lower() in BUILT_IN:
            log.warning("plugin format %r not used: a built-in format has that name", name)
            continue
        out[name.lower()] = LabelFormat(name, record.description or f"{name} (plugin)", record.can_import,
                                        plugin_kind=record.kind)
    return out
