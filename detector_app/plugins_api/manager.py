"""The plugin manager: discovery, enable/disable, and every call into plugin code behind a guard.

Guard rule: plugin code may raise anything at any time. The manager turns that into a ``PluginError`` naming
the plugin, records the reason on the plugin's record, logs it with the traceback, and keeps the app running.
Exports go through :func:`write_atomically`, so a failed export leaves no partial output.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import detector_app
from detector_app.errors import DetectorAppError
from detector_app.paths import app_paths
from detector_app.plugins_api import discovery
from detector_app.plugins_api.api import (
    ENTRY_POINT_GROUP,
    DetectionModel,
    DetectorPlugin,
    ExporterPlugin,
    ExportScope,
    PluginError,
    SourcePlugin,
)
from detector_app.plugins_api.atomic import write_atomically
from detector_app.plugins_api.records import (
    DISABLED,
    FAILED,
    LOADED,
    ORIGIN_APP,
    ORIGIN_USER,
    PluginRecord,
)
from detector_app.plugins_api.settings import PluginSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


def app_plugin_folder() -> Path:
    """The built-in plugins: ``detector_app/bundled_plugins`` in an installed wheel (pyproject.toml maps
    ``plugins/`` there), else the ``plugins/`` folder at the root of the source tree (checkout, editable install)."""
    package = Path(detector_app.__file__).resolve().parent
    bundled = package / "bundled_plugins"
    return bundled if bundled.is_dir() else package.parent / "plugins"


def default_folders() -> list[tuple[Path, str]]:
    return [(app_plugin_folder(), ORIGIN_APP), (app_paths().user_plugins, ORIGIN_USER)]


class PluginManager:
    """Finds plugins once (``discover``) and hands out the enabled, loaded ones by kind."""

    def __init__(self, folders: Sequence[tuple[Path, str]] | None = None,
                 entry_point_group: str | None = ENTRY_POINT_GROUP,
                 settings: PluginSettings | None = None) -> None:
        self.folders = list(default_folders() if folders is None else folders)
        self.entry_point_group = entry_point_group
        self.settings = settings or PluginSettings()
        self._records: dict[str, PluginRecord] = {}
        self._lock = threading.RLock()

    # --- discovery --------------------------------------------------------------------------------

    def discover(self) -> list[PluginRecord]:
        """Import every candidate and rebuild the records; never raises for a plugin's fault."""
        records: dict[str, PluginRecord] = {}
        for candidate in discovery.iter_candidates(self.folders, self.entry_point_group):
            for record in self._load_candidate(candidate):
                self._add(records, record)
        with self._lock:
            self._records = records
        return self.records()

    def _load_candidate(self, candidate: discovery.Candidate) -> list[PluginRecord]:
        try:
            items = discovery.plugin_classes(candidate.load())
        except (Exception, SystemExit) as exc:  # a plugin calling sys.exit() at import must not end the app
            reason = discovery.import_error_text(exc)
            log.warning("plugin %s (%s) failed to load: %s", candidate.key, candidate.location, reason)
            log.debug("plugin import traceback", exc_info=True)
            return [self._failed(candidate.key, candidate, reason)]
        return [self._load_item(item, candidate) for item in items]

    def _load_item(self, item: Any, candidate: discovery.Candidate) -> PluginRecord:
        name = discovery.declared_name(item, candidate.key)
        try:
            plugin = discovery.instantiate(item)
        except (Exception, SystemExit) as exc:
            reason = str(exc) if isinstance(exc, discovery.PluginLoadError) else discovery.import_error_text(exc)
            log.warning("plugin %s (%s) not loaded: %s", name, candidate.location, reason)
            return self._failed(name, candidate, reason, kind=getattr(item, "kind", "unknown"))
        state = LOADED if self.settings.is_enabled(plugin.name) else DISABLED
        return PluginRecord(plugin.name, plugin.kind, plugin.version, candidate.origin, candidate.location, state,
                            None, plugin.description, plugin.api_version, plugin)

    def _failed(self, name: str, candidate: discovery.Candidate, reason: str, kind: str = "unknown") -> PluginRecord:
        state = FAILED if self.settings.is_enabled(name) else DISABLED
        return PluginRecord(name, kind if isinstance(kind, str) else "unknown", candidate.version, candidate.origin,
                            candidate.location, state, reason)

    @staticmethod
    def _add(records: dict[str, PluginRecord], record: PluginRecord) -> None:
        """First come wins (app folder, user folder, packages); a later one of the same name is reported."""
        first = records.get(record.name)
        if first is None:
            records[record.name] = record
            return
        key = f"{record.name}@{record.location}"
        reason = f"name {record.name!r} is already used by the plugin from {first.location}"
        log.warning("plugin %s not loaded: %s", key, reason)
        records[key] = replace(record, state=FAILED, error=reason, plugin=None)

    # --- records and settings ---------------------------------------------------------------------

    def records(self) -> list[PluginRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r.kind, r.name))

    def record(self, name: str) -> PluginRecord:
        with self._lock:
            record = self._records.get(name)
        if record is None:
            known = ", ".join(sorted({r.name for r in self._records.values()})) or "none found"
            raise PluginError(f"no plugin called {name!r} (plugins: {known})")
        return record

    def set_enabled(self, name: str, enabled: bool) -> PluginRecord:
        """Enable or disable a plugin, remembered in plugins.json for the CLI and the GUI."""
        record = self.record(name)
        self.settings.set_enabled(name, enabled)
        if not enabled:
            state = DISABLED
        else:
            state = LOADED if record.plugin is not None else FAILED
        with self._lock:
            self._records[name] = updated = replace(record, state=state)
        return updated

    def record_failure(self, name: str, action: str, exc: BaseException) -> PluginError:
        """Record and log a run-time failure; the plugin stays enabled (the next call may well succeed)."""
        reason = str(exc) if isinstance(exc, DetectorAppError) else f"{type(exc).__name__}: {exc}"
        log.error("plugin %s failed while %s: %s", name, action, reason, exc_info=exc)
        with self._lock:
            if name in self._records:
                self._records[name] = replace(self._records[name], error=f"last run failed while {action}: {reason}")
        return PluginError(f"plugin {name!r} failed while {action}: {reason}")

    # --- by kind ----------------------------------------------------------------------------------

    def _usable(self, cls: type[T]) -> dict[str, T]:
        with self._lock:
            return {r.name: r.plugin for r in self._records.values() if r.usable and isinstance(r.plugin, cls)}

    def exporters(self) -> dict[str, ExporterPlugin]:
        return self._usable(ExporterPlugin)

    def sources(self) -> dict[str, SourcePlugin]:
        return self._usable(SourcePlugin)

    def detectors(self) -> dict[str, DetectorPlugin]:
        return self._usable(DetectorPlugin)

    def _get(self, name: str, cls: type[T], what: str) -> T:
        record = self.record(name)
        if record.state == DISABLED:
            raise PluginError(f"plugin {name!r} is disabled; enable it with `detector-app plugins enable {name}`")
        if not record.usable:
            raise PluginError(f"plugin {name!r} could not be loaded: {record.error}")
        if not isinstance(record.plugin, cls):
            raise PluginError(f"plugin {name!r} is a {record.kind} plugin, not {what}")
        return record.plugin

    # --- guarded calls ----------------------------------------------------------------------------

    def run_guarded(self, name: str, action: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except DetectorAppError:
            raise  # the plugin reported a user-facing problem (an unreachable URL): not a fault of the plugin
        except (Exception, SystemExit) as exc:
            raise self.record_failure(name, action, exc) from exc

    def export(self, name: str, repo: Any, out_dir: Path, scope: ExportScope = "reviewed",
               copy_images: bool = False) -> Path:
        """Run an exporter into a staging folder; publish to ``out_dir`` only if it finished."""
        plugin = self._get(name, ExporterPlugin, "an exporter")
        out_dir = Path(out_dir)
        try:
            return write_atomically(out_dir, lambda staging: plugin.export(repo, staging, scope, copy_images))
        except (Exception, SystemExit) as exc:
            error = self.record_failure(name, "exporting", exc)
            raise PluginError(f"{error}; nothing was written to {out_dir}") from exc

    def import_labels(self, name: str, repo: Any, path: Path, images_dir: Path | None) -> Any:
        plugin = self._get(name, ExporterPlugin, "an importer")
        if not plugin.can_import():
            raise PluginError(f"the {name} format can be exported but not imported")
        folder = Path(images_dir) if images_dir is not None else None
        return self.run_guarded(name, "importing", lambda: plugin.import_(repo, Path(path), folder))

    def open_source(self, spec: str) -> Any | None:
        """A frame source from the first enabled source plugin that accepts ``spec``, else None."""
        for name, plugin in sorted(self.sources().items()):
            try:
                accepts = self.run_guarded(name, "checking a source", lambda p=plugin: bool(p.can_open(spec)))
            except DetectorAppError:
                continue  # recorded and logged; one broken plugin must not hide the others
            if accepts:
                return self.run_guarded(name, f"opening {spec}", lambda p=plugin: p.open(spec))
        return None

    def load_detector(self, name: str, options: str = "") -> DetectionModel:
        plugin = self._get(name, DetectorPlugin, "a detector")
        model = self.run_guarded(name, "loading its model", lambda: plugin.load(options))
        if not isinstance(model, DetectionModel):
            raise self.record_failure(name, "loading its model",
                                     TypeError(f"load() returned {type(model).__name__}, not a DetectionModel"))
        return model


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> PluginManager:
    """The process-wide manager, discovered on first use (the CLI, the GUI and the hooks share it)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            manager = PluginManager()
            manager.discover()
            _manager = manager
        return _manager


def reset_manager(manager: PluginManager | None = None) -> None:
    """Forget the shared manager (tests, or after installing a plugin); the next use rediscovers."""
    global _manager
    with _manager_lock:
        _manager = manager

