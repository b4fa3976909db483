"""The plugin manager: discovery, enable/disable, and every call into plugin code behind a guard.

Discovery imports only the app's own ``plugins/``; user and installed plugins are probed in a child process
(``probe.py``: a hang, crash or exit there is a failed record, not a dead app) and imported when first used.

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
from detector_app.core.names import printable
from detector_app.errors import DetectorAppError
from detector_app.logging_setup import FILE_ONLY
from detector_app.paths import app_paths
from detector_app.plugins_api import discovery, probe
from detector_app.plugins_api.api import (
    ENTRY_POINT_GROUP,
    DetectionModel,
    DetectorPlugin,
    ExporterPlugin,
    ExportScope,
    FormatPlugin,
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
                 settings: PluginSettings | None = None, probe_cache: Path | None = None,
                 probe_timeout: float | None = None) -> None:
        self.folders = list(default_folders() if folders is None else folders)
        self.entry_point_group = entry_point_group
        self.settings = settings or PluginSettings()
        self.probe_cache: Path | None = app_paths().cache / probe.CACHE_NAME if probe_cache is None else probe_cache
        self.probe_timeout = probe_timeout  # None: probe.probe_timeout() (DETECTOR_APP_PLUGIN_TIMEOUT)
        self._records: dict[str, PluginRecord] = {}
        self._pending: dict[str, discovery.Candidate] = {}  # probed, not imported yet
        self._imported: dict[str, dict[str, Any]] = {}  # candidate location -> {name: plugin or reason}
        self._lock = threading.RLock()

    # --- discovery --------------------------------------------------------------------------------

    def discover(self, recheck: bool = False) -> list[PluginRecord]:
        """Rebuild the records; never raises for a plugin's fault.

        The app's own ``plugins/`` are imported here. User and installed plugins are probed in child processes
        (cached by content; ``recheck`` probes again) and imported only when used (:meth:`_materialize`), so a
        plugin that hangs, crashes or exits on import is reported and the app goes on.
        """
        candidates = discovery.iter_candidates(self.folders, self.entry_point_group)
        outside = [c for c in candidates if c.origin != ORIGIN_APP]
        results = probe.probe_all([c.probe_target() for c in outside], self.probe_cache, self.probe_timeout,
                                  use_cache=not recheck)
        probed = dict(zip(map(id, outside), results, strict=True))
        records: dict[str, PluginRecord] = {}
        pending: dict[str, discovery.Candidate] = {}
        for candidate in candidates:
            result = probed.get(id(candidate))
            found = self._load_candidate(candidate) if result is None else self._from_probe(candidate, result)
            for record in found:
                key = self._add(records, record)
                if result is not None and record.error is None and key == record.name:
                    pending[key] = candidate
        with self._lock:
            self._records = records
            self._pending = pending
            self._imported = {}
        return self.records()

    def _load_candidate(self, candidate: discovery.Candidate) -> list[PluginRecord]:
        """Import a candidate in this process (the app's own plugins)."""
        mark = discovery.interrupt_mark()
        try:
            items = discovery.plugin_classes(candidate.load())
        except BaseException as exc:  # sys.exit() or KeyboardInterrupt at import must not end the app
            if not isinstance(exc, Exception | SystemExit) and not discovery.is_plugin_interrupt(exc, mark):
                raise
            reason = discovery.import_error_text(exc)
            self._log_load_failure(candidate.key, candidate, reason, exc_info=exc)
            return [self._failed(candidate.key, candidate, reason)]
        return [self._load_item(item, candidate) for item in items]

    def _load_item(self, item: Any, candidate: discovery.Candidate) -> PluginRecord:
        name = discovery.declared_name(item, candidate.key)
        mark = discovery.interrupt_mark()
        try:
            plugin = discovery.instantiate(item)
        except BaseException as exc:
            if not isinstance(exc, Exception | SystemExit) and not discovery.is_plugin_interrupt(exc, mark):
                raise
            reason = str(exc) if isinstance(exc, discovery.PluginLoadError) else discovery.import_error_text(exc)
            self._log_load_failure(name, candidate, reason)
            return self._failed(name, candidate, reason, kind=getattr(item, "kind", "unknown"))
        state = LOADED if self.settings.is_enabled(plugin.name) else DISABLED
        can_import = bool(plugin.can_import()) if isinstance(plugin, ExporterPlugin | FormatPlugin) else False
        return PluginRecord(plugin.name, plugin.kind, plugin.version, candidate.origin, candidate.location, state,
                            None, plugin.description, plugin.api_version, plugin, can_import)

    def _from_probe(self, candidate: discovery.Candidate, result: probe.ProbeResult) -> list[PluginRecord]:
        """Records from what the probe child saw; nothing is imported here."""
        if result.error is not None:
            self._log_load_failure(candidate.key, candidate, result.error, details=result.traceback)
            return [self._failed(candidate.key, candidate, result.error)]
        records = []
        for found in result.plugins:
            if found.error is not None:
                self._log_load_failure(found.name, candidate, found.error, details=result.traceback)
                records.append(self._failed(found.name, candidate, found.error, kind=found.kind))
                continue
            state = LOADED if self.settings.is_enabled(found.name) else DISABLED
            records.append(PluginRecord(found.name, found.kind, found.version, candidate.origin, candidate.location,
                                        state, None, found.description, found.api_version, None, found.can_import))
        return records

    @staticmethod
    def _log_load_failure(name: str, candidate: discovery.Candidate, reason: str, details: str = "",
                          exc_info: BaseException | None = None) -> None:
        """One line for the terminal; where it came from and the traceback for the log file only."""
        log.warning("plugin %s did not load: %s", printable(name), printable(reason))
        if details or exc_info is not None:
            log.info("plugin %s (%s) load failure details:\n%s", printable(name), printable(candidate.location), details.rstrip(),
                     exc_info=exc_info, extra=FILE_ONLY)
        else:
            log.info("plugin %s came from %s", printable(name), printable(candidate.location), extra=FILE_ONLY)

    def _failed(self, name: str, candidate: discovery.Candidate, reason: str, kind: str = "unknown") -> PluginRecord:
        state = FAILED if self.settings.is_enabled(name) else DISABLED
        return PluginRecord(name, kind if isinstance(kind, str) else "unknown", candidate.version, candidate.origin,
                            candidate.location, state, reason)

    def _materialize(self, name: str) -> PluginRecord | None:
        """Import a probed plugin into this process the first time it is needed (never a disabled one)."""
        with self._lock:
            record = self._records.get(name)
            candidate = self._pending.get(name)
            if record is None or candidate is None or record.plugin is not None or record.state != LOADED:
                return record
            loaded = self._imported.get(candidate.location)
            if loaded is None:
                self._imported[candidate.location] = loaded = self._import_probed(candidate)
            plugin = loaded.get(name)
            if isinstance(plugin, str) or plugin is None:
                reason = plugin or "the plugin was not there when the app imported its code"
                self._log_load_failure(name, candidate, reason)
                record = replace(record, state=FAILED, error=reason)
            else:
                record = replace(record, plugin=plugin)
            self._pending.pop(name, None)
            self._records[name] = record
            return record

    def _import_probed(self, candidate: discovery.Candidate) -> dict[str, Any]:
        """``{name: plugin instance or the reason it failed}`` for a candidate whose probe passed."""
        mark = discovery.interrupt_mark()
        try:
            items = discovery.plugin_classes(candidate.load())
        except BaseException as exc:
            if not isinstance(exc, Exception | SystemExit) and not discovery.is_plugin_interrupt(exc, mark):
                raise
            log.info("plugin code %s failed to import in the app", printable(candidate.location), exc_info=exc,
                     extra=FILE_ONLY)
            reason = discovery.import_error_text(exc)
            return {n: reason for n in self._pending_names(candidate)}
        out: dict[str, Any] = {}
        for item in items:
            name = discovery.declared_name(item, candidate.key)
            try:
                out[name] = discovery.instantiate(item)
            except BaseException as exc:
                if not isinstance(exc, Exception | SystemExit) and not discovery.is_plugin_interrupt(exc, mark):
                    raise
                out[name] = str(exc) if isinstance(exc, discovery.PluginLoadError) else \
                    discovery.import_error_text(exc)
        return out

    def _pending_names(self, candidate: discovery.Candidate) -> list[str]:
        return [n for n, c in self._pending.items() if c is candidate]

    @staticmethod
    def _add(records: dict[str, PluginRecord], record: PluginRecord) -> str:
        """First come wins (app folder, user folder, packages); a later one of the same name is reported.
        Returns the key the record was stored under."""
        first = records.get(record.name)
        if first is None:
            records[record.name] = record
            return record.name
        key = f"{record.name}@{record.location}"
        reason = f"name {record.name!r} is already used by the plugin from {first.location}"
        log.warning("plugin %s did not load: %s", printable(key), printable(reason))
        records[key] = replace(record, state=FAILED, error=reason, plugin=None)
        return key

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
            with self._lock:
                loadable = record.plugin is not None or name in self._pending
            state = LOADED if loadable else FAILED
        with self._lock:
            self._records[name] = updated = replace(record, state=state)
        return updated

    def record_failure(self, name: str, action: str, exc: BaseException) -> PluginError:
        """Record and log a run-time failure; the plugin stays enabled (the next call may well succeed)."""
        reason = printable(str(exc) if isinstance(exc, DetectorAppError) else f"{type(exc).__name__}: {exc}")
        # The caller shows the PluginError (the CLI's one `error:` line, a GUI message); the log keeps the
        # traceback, and the terminal never sees it.
        log.error("plugin %s failed while %s: %s", printable(name), printable(action), reason, exc_info=exc, extra=FILE_ONLY)
        with self._lock:
            if name in self._records:
                self._records[name] = replace(self._records[name], error=f"last run failed while {action}: {reason}")
        return PluginError(f"plugin {printable(repr(name))} failed while {printable(action)}: {reason}")

    # --- by kind ----------------------------------------------------------------------------------

    def available(self, kind: str) -> dict[str, PluginRecord]:
        """The enabled plugins of ``kind`` that loaded or passed their probe, by name; imports nothing."""
        with self._lock:
            return {n: r for n, r in self._records.items() if n == r.name and r.kind == kind and r.state == LOADED}

    def _usable(self, cls: type[T]) -> dict[str, T]:
        """Enabled plugins of a kind, imported now if they were not yet (only that kind)."""
        kind = getattr(cls, "kind", None)
        with self._lock:
            names = [n for n, r in self._records.items() if r.state == LOADED and r.kind == kind]
        for name in names:
            self._materialize(name)
        with self._lock:
            return {r.name: r.plugin for r in self._records.values() if r.usable and isinstance(r.plugin, cls)}

    def format_plugin(self, name: str) -> FormatPlugin:
        """The format plugin called ``name``, imported now if it was not yet."""
        return self._get(name, FormatPlugin, "a label format")

    def exporters(self) -> dict[str, ExporterPlugin]:
        return self._usable(ExporterPlugin)

    def sources(self) -> dict[str, SourcePlugin]:
        return self._usable(SourcePlugin)

    def detectors(self) -> dict[str, DetectorPlugin]:
        return self._usable(DetectorPlugin)

    def _get(self, name: str, cls: type[T], what: str) -> T:
        self.record(name)  # an unknown name says which plugins there are
        record = self._materialize(name) or self.record(name)
        if record.state == DISABLED:
            raise PluginError(f"plugin {name!r} is disabled; enable it with `detector-app plugins enable {name}`")
        if not record.usable:
            raise PluginError(f"plugin {name!r} could not be loaded: {record.error}")
        if not isinstance(record.plugin, cls):
            raise PluginError(f"plugin {name!r} is a {record.kind} plugin, not {what}")
        return record.plugin

    # --- guarded calls ----------------------------------------------------------------------------

    def run_guarded(self, name: str, action: str, call: Callable[[], T]) -> T:
        mark = discovery.interrupt_mark()
        try:
            return call()
        except DetectorAppError:
            raise  # the plugin reported a user-facing problem (an unreachable URL): not a fault of the plugin
        except (Exception, SystemExit) as exc:
            raise self.record_failure(name, action, exc) from exc
        except KeyboardInterrupt as exc:
            if not discovery.is_plugin_interrupt(exc, mark):
                raise  # the user's Ctrl-C
            raise self.record_failure(name, action, exc) from exc

    def export(self, name: str, repo: Any, out_dir: Path, scope: ExportScope = "reviewed",
               copy_images: bool = False) -> Path:
        """Run an exporter into a staging folder; publish to ``out_dir`` only if it finished."""
        plugin = self._get(name, ExporterPlugin, "an exporter")
        out_dir = Path(out_dir)
        try:
            return write_atomically(out_dir, lambda staging: plugin.export(repo, staging, scope, copy_images), name)
        except DetectorAppError:
            raise  # the folder refused or unwritable (checked before the plugin runs), or a refused row: not the plugin
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
            except DetectorAppError as exc:  # recorded and logged; one broken plugin must not hide the others
                log.warning("source plugin %s skipped: %s", printable(name), printable(exc))
                continue
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
            discovery.install_interrupt_counter()
            manager = PluginManager()
            manager.discover()
            _manager = manager
        return _manager


def reset_manager(manager: PluginManager | None = None) -> None:
    """Forget the shared manager (tests, or after installing a plugin); the next use rediscovers."""
    global _manager
    with _manager_lock:
        _manager = manager

