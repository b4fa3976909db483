"""Import and export formats by name: what ``detector-app export FORMAT`` / ``import FORMAT`` and the GUI's
File menu offer. COCO is built in, and code may register formats directly with :func:`register_exporter` /
:func:`register_importer`; these are found without looking at plugins at all. Any other name, and the lists of
names, first merge the enabled exporter plugins (``detector_app.plugins_api.hooks.merge_plugin_formats``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector_app.errors import DetectorAppError, ImportValidationError
from detector_app.storage.repository import Repository

log = logging.getLogger(__name__)


class UnknownFormatError(DetectorAppError):
    """No importer or exporter is registered under the requested name."""


@dataclass(frozen=True)
class ExportOptions:
    scope: str | Sequence[int] = "reviewed"  # "reviewed", "all" or image ids
    copy_images: bool = False


@dataclass(frozen=True)
class Exporter:
    name: str
    description: str
    run: Callable[[Repository, Path, ExportOptions], Path]  # returns the main file written

    def __call__(self, repo: Repository, out_dir: str | Path, scope: str | Sequence[int] = "reviewed",
                 copy_images: bool = False) -> Path:
        return self.run(repo, Path(out_dir), ExportOptions(scope, copy_images))


@dataclass(frozen=True)
class Importer:
    name: str
    description: str
    # (repository, label file, image folder or None) -> a report whose str() is a one-line summary
    run: Callable[[Repository, Path, Path | None], Any]

    def __call__(self, repo: Repository, path: str | Path, images_dir: str | Path | None = None) -> Any:
        return self.run(repo, Path(path), Path(images_dir) if images_dir is not None else None)


EXPORTERS: dict[str, Exporter] = {}
IMPORTERS: dict[str, Importer] = {}
# Names registered in code (built-in formats): looking one up never runs plugin discovery.
_REGISTERED: dict[int, set[str]] = {id(EXPORTERS): set(), id(IMPORTERS): set()}


def register_exporter(exporter: Exporter, replace: bool = False) -> None:
    _register(EXPORTERS, exporter.name, exporter, replace)


def register_importer(importer: Importer, replace: bool = False) -> None:
    _register(IMPORTERS, importer.name, importer, replace)


def get_exporter(name: str) -> Exporter:
    if name.lower() not in _REGISTERED[id(EXPORTERS)]:
        _merge_plugins()
    return _get(EXPORTERS, name, "export")


def get_importer(name: str) -> Importer:
    if name.lower() not in _REGISTERED[id(IMPORTERS)]:
        _merge_plugins()
    return _get(IMPORTERS, name, "import")


def exporter_names() -> list[str]:
    _merge_plugins()
    return sorted(EXPORTERS)


def importer_names() -> list[str]:
    _merge_plugins()
    return sorted(IMPORTERS)


def _merge_plugins() -> None:
    """Add enabled exporter plugins (and drop disabled ones); never lets plugin trouble hide COCO."""
    try:
        from detector_app.plugins_api.hooks import merge_plugin_formats
    except ImportError:  # an installation without the plugin package
        log.debug("plugin API not available; built-in formats only", exc_info=True)
        return
    merge_plugin_formats(EXPORTERS, IMPORTERS)


def _register(table: dict[str, Any], name: str, item: Any, replace: bool) -> None:
    key = name.lower()
    if key in table and not replace:
        raise ValueError(f"a format called {name!r} is already registered")
    table[key] = item
    _REGISTERED[id(table)].add(key)


def _get(table: dict[str, Any], name: str, verb: str) -> Any:
    try:
        return table[name.lower()]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise UnknownFormatError(f"no {verb} format called {name!r} (available: {known})") from None


def _export_coco(repo: Repository, out: Path, options: ExportOptions) -> Path:
    from detector_app.export.coco import export_coco

    return export_coco(repo, out, scope=options.scope, copy_images=options.copy_images)


def _import_coco(repo: Repository, path: Path, images_dir: Path | None) -> Any:
    from detector_app.export.coco import import_coco

    if images_dir is None:
        raise ImportValidationError("COCO import needs the image folder (--images DIR)")
    return import_coco(repo, path, images_dir)


register_exporter(Exporter("coco", "COCO instances JSON (+ images/ with --copy-images)", _export_coco))
register_importer(Importer("coco", "COCO instances JSON plus its image folder", _import_coco))
