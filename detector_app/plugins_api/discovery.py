"""Finding plugin code and turning it into plugin instances, each failure kept as a one-line reason.

Three places: a folder of ``.py`` modules and packages (the app's ``plugins/`` and the user plugin folder),
loaded with ``importlib.util.spec_from_file_location``; and installed distributions, found through the
``detector_app.plugins`` entry point group of ``importlib.metadata`` (what ``pip install`` registers).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from detector_app.core.names import printable
from detector_app.plugins_api.api import API_VERSION, ENTRY_POINT_GROUP, KIND_CLASSES, NAME_PATTERN, Plugin
from detector_app.plugins_api.probe import ProbeTarget
from detector_app.plugins_api.records import ORIGIN_PACKAGE

log = logging.getLogger(__name__)

MODULE_PREFIX = "detector_app_plugin"


@dataclass(frozen=True)
class Candidate:
    """Code that may hold plugins, not imported yet."""

    key: str  # module stem or entry point name: the record's name when importing fails
    origin: str
    location: str
    load: Callable[[], Any]  # imports the code; returns a module, a plugin class or a list of them
    version: str = ""  # the distribution's version for entry points
    path: str = ""  # folder plugins: the module file or package folder
    module_name: str = ""  # folder plugins: the private module name it is imported under
    entry_point: str = ""  # installed plugins: the entry point's value ("module:attr")
    group: str = ""  # installed plugins: the entry point group

    def probe_target(self) -> ProbeTarget:
        """What the probe child needs to import this candidate on its own."""
        return ProbeTarget(self.key, self.origin, self.location, self.path, self.module_name, self.entry_point,
                           self.group, self.version)


class PluginLoadError(Exception):
    """Why a candidate yields no plugin; the message is shown as it is."""


def folder_candidates(folder: Path, origin: str) -> list[Candidate]:
    """Modules (``name.py``) and packages (``name/__init__.py``) directly in ``folder``, by name.

    Names starting with ``_`` or ``.`` are skipped, so helpers and caches can live beside plugins.
    """
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_file() and path.suffix == ".py":
            found.append(_folder_candidate(path.stem, path, origin))
        elif path.is_dir() and (path / "__init__.py").is_file():
            found.append(_folder_candidate(path.name, path, origin))
    return found


def _folder_candidate(stem: str, path: Path, origin: str) -> Candidate:
    module_name = _module_name(origin, stem)
    return Candidate(stem, origin, str(path), lambda: load_module_from_path(path, module_name),
                     path=str(path), module_name=module_name)


def _module_name(origin: str, stem: str) -> str:
    # A private prefix keeps folder plugins from shadowing real modules (a user's "json.py" stays a plugin).
    return f"{MODULE_PREFIX}_{origin}_{re.sub(r'[^0-9A-Za-z_]', '_', stem)}"


def load_module_from_path(path: Path, module_name: str) -> ModuleType:
    """Import a module file or package folder under ``module_name`` (re-imported fresh each time)."""
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(module_name, path / "__init__.py",
                                                      submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"cannot import {path}")
    for name in [m for m in sys.modules if m == module_name or m.startswith(module_name + ".")]:
        del sys.modules[name]  # rediscovery must see edits, not a stale module
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # registered first so relative imports inside a package work
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def entry_point_candidates(group: str = ENTRY_POINT_GROUP) -> list[Candidate]:
    """One candidate per entry point of ``group`` in the installed distributions."""
    found = []
    for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "?"
        dist_version = dist.version if dist is not None else ""
        location = f"{dist_name}=={dist_version} ({ep.value})"
        found.append(Candidate(ep.name, ORIGIN_PACKAGE, location, ep.load, dist_version, entry_point=ep.value,
                               group=group))
    return found


def import_error_text(exc: BaseException) -> str:
    """A one-line reason for an exception raised while importing plugin code."""
    if isinstance(exc, SyntaxError):
        where = f"{Path(exc.filename).name} line {exc.lineno}" if exc.filename else f"line {exc.lineno}"
        return f"syntax error in {where}: {exc.msg}"
    if isinstance(exc, ModuleNotFoundError):
        return f"missing dependency: no module named {exc.name!r}"
    if isinstance(exc, PluginLoadError):
        return str(exc)
    detail = str(exc)
    return f"failed to import: {type(exc).__name__}: {detail}" if detail else f"failed to import: {type(exc).__name__}"


def plugin_classes(obj: Any) -> list[Any]:
    """The plugin classes (or instances) a module or entry point offers."""
    if isinstance(obj, ModuleType):
        if not hasattr(obj, "PLUGINS"):
            raise PluginLoadError("the module has no PLUGINS list naming its plugin classes")
        obj = obj.PLUGINS
    if isinstance(obj, list | tuple):
        return list(obj)
    return [obj]


def instantiate(item: Any) -> Plugin:
    """A checked plugin instance from a class or instance; ``PluginLoadError`` says what is wrong."""
    cls = item if inspect.isclass(item) else type(item)
    if not (inspect.isclass(cls) and issubclass(cls, tuple(KIND_CLASSES.values()))):
        raise PluginLoadError(f"{_label(item)} is not a subclass of FormatPlugin, ExporterPlugin, SourcePlugin or DetectorPlugin")
    problem = declaration_problem(cls)
    if problem:
        raise PluginLoadError(problem)
    if not inspect.isclass(item):
        return item
    try:
        return item()
    except TypeError as exc:  # most often an abstract method left out
        raise PluginLoadError(f"{cls.__name__} cannot be created: {exc}") from exc


def declaration_problem(cls: type[Plugin]) -> str | None:
    """What is wrong with a plugin class's declarations, or None."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return f"{cls.__name__} needs a lower-case 'name' (letters, digits, _ . -), not {name!r}"
    version = getattr(cls, "version", None)
    if not isinstance(version, str) or not version:
        return f"{name}: 'version' must be a non-empty string, not {version!r}"
    api = getattr(cls, "api_version", None)
    if not isinstance(api, int) or isinstance(api, bool):
        return f"{name}: declares no integer 'api_version' (this app provides plugin API {API_VERSION})"
    if api != API_VERSION:
        return f"{name}: targets plugin API {api}; this app provides API {API_VERSION}"
    return None


def _label(item: Any) -> str:
    return getattr(item, "__name__", None) or repr(item)[:60]


def declared_name(item: Any, fallback: str) -> str:
    """The ``name`` a class or instance declares, for naming a failure record."""
    name = getattr(item, "name", None)
    return name if isinstance(name, str) and name else fallback


def iter_candidates(folders: Iterable[tuple[Path, str]], group: str | None) -> list[Candidate]:
    """Folder candidates in the order given, then entry points (``group=None`` skips them)."""
    out: list[Candidate] = []
    for folder, origin in folders:
        out.extend(folder_candidates(folder, origin))
    if group:
        try:
            out.extend(entry_point_candidates(group))
        except Exception as exc:  # a broken installed distribution's metadata must not stop discovery
            log.warning("could not read installed plugin entry points: %s", printable(exc))
    return out


# --- KeyboardInterrupt: the user's Ctrl-C or plugin code raising it ----------------------------------------

_sigints = 0  # SIGINTs received since install_interrupt_counter()
_counting = False


def install_interrupt_counter() -> None:
    """Count the user's Ctrl-Cs (main thread, default handler only), so that a ``KeyboardInterrupt`` raised
    by plugin code can be told from a real one: see :func:`is_plugin_interrupt`."""
    global _counting
    if _counting or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return  # someone else (Qt, a test runner) handles Ctrl-C: leave it
        signal.signal(signal.SIGINT, _count_sigint)
    except (ValueError, OSError):
        return
    _counting = True


def _count_sigint(signum: int, frame: Any) -> None:
    global _sigints
    _sigints += 1
    signal.default_int_handler(signum, frame)


def interrupt_mark() -> int | None:
    """Taken before calling plugin code; None when Ctrl-Cs are not counted (then every interrupt is real)."""
    return _sigints if _counting else None


def is_plugin_interrupt(exc: BaseException, mark: int | None) -> bool:
    """Whether ``exc`` is a ``KeyboardInterrupt`` plugin code raised itself (no Ctrl-C arrived since ``mark``)."""
    if not isinstance(exc, KeyboardInterrupt):
        return False
    if threading.current_thread() is not threading.main_thread():
        return True  # Python delivers Ctrl-C to the main thread only
    return mark is not None and _sigints == mark
