"""Look at plugin code in a child process before the app imports it.

A user plugin may hang on import, crash the interpreter (a segfault in a C extension), call ``os._exit`` or
raise ``KeyboardInterrupt``. None of that may reach the app, so each candidate from the user folder or an
installed distribution is first imported in a short-lived child process with a timeout (:func:`probe_all`).
The child reports what the code declares (name, kind, version, description, api_version, whether it can
import) or why it failed; a child that does not answer in time is killed ("timed out"), one that dies is
reported as "crashed (signal N)" or "exited (code N)". The app imports a plugin itself only after its probe
succeeded, and only when that plugin is needed.

Results are cached under the app cache folder, keyed by the code's content hash (a folder plugin) or the entry
point and its distribution's version (an installed one), plus the app version and the interpreter's
site-packages state, so unchanged plugins are not probed again on the next run. ``DETECTOR_APP_PLUGIN_TIMEOUT``
sets the timeout in seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT_ENV = "DETECTOR_APP_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT_S = 10.0
CACHE_NAME = "plugin-probes.json"
CACHE_FORMAT = 1
CACHE_LIMIT = 500  # entries kept (old versions of edited plugins drop out)
MAX_PARALLEL = 4
STARTUP_LIMIT_S = 120.0  # for the child to import the app's side, before the plugin's own time starts

# What the child runs: it takes the parent's sys.path so it imports what the parent would.
_BOOTSTRAP = ("import json, sys\n"
              "request = json.load(open(sys.argv[1], encoding='utf-8'))\n"
              "sys.path[:] = request['sys_path']\n"
              "from detector_app.plugins_api.probe_child import child_main\n"
              "child_main(request)\n")


@dataclass(frozen=True)
class ProbeTarget:
    """What to probe: a module file or package folder, or an entry point of an installed distribution."""

    key: str  # module stem or entry point name
    origin: str
    location: str
    path: str = ""  # folder plugins
    module_name: str = ""  # folder plugins
    entry_point: str = ""  # installed plugins: "module:attr"
    group: str = ""
    version: str = ""  # the distribution's version


@dataclass(frozen=True)
class ProbedPlugin:
    """One plugin class as the child saw it; ``error`` says why it cannot be used."""

    name: str
    kind: str = "unknown"
    version: str = ""
    description: str = ""
    api_version: int | None = None
    can_import: bool = False
    error: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    """The plugins a candidate offers, or why it offers none (``error``); ``cached`` when not probed now."""

    plugins: tuple[ProbedPlugin, ...] = ()
    error: str | None = None
    timeout_s: float | None = None  # set when the probe timed out (a longer timeout later probes again)
    traceback: str = ""
    cached: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"plugins": [asdict(p) for p in self.plugins], "error": self.error, "timeout_s": self.timeout_s,
                "traceback": self.traceback}

    @classmethod
    def from_json(cls, data: dict[str, Any], cached: bool = False) -> ProbeResult:
        plugins = tuple(ProbedPlugin(**p) for p in data.get("plugins") or [])
        return cls(plugins, data.get("error"), data.get("timeout_s"), data.get("traceback") or "", cached)


def probe_timeout() -> float:
    """Seconds a probe may take (``DETECTOR_APP_PLUGIN_TIMEOUT``, default 10)."""
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        log.warning("ignoring %s=%r: not a number of seconds", TIMEOUT_ENV, text)
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


_live: set[subprocess.Popen] = set()  # probe children running now


# --- the parent side --------------------------------------------------------------------------------------


def probe_all(targets: Sequence[ProbeTarget], cache_file: Path | None = None, timeout: float | None = None,
              use_cache: bool = True) -> list[ProbeResult]:
    """One result per target, in order: from the cache when the code is unchanged, else probed (in parallel)."""
    timeout = probe_timeout() if timeout is None else timeout
    cache = ProbeCache(cache_file) if cache_file is not None else None
    known = cache.read() if cache is not None and use_cache else {}
    keys = [cache_key(t) for t in targets]
    results: list[ProbeResult | None] = [None] * len(targets)
    todo = []
    for i, key in enumerate(keys):
        hit = _cached(known.get(key)) if key else None
        if hit is not None and not (hit.timeout_s is not None and hit.timeout_s < timeout):
            results[i] = hit
        else:
            todo.append(i)
    if todo:
        pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(todo)), thread_name_prefix="plugin-probe")
        try:
            for i, result in zip(todo, pool.map(lambda i: probe_one(targets[i], timeout), todo), strict=True):
                results[i] = result
        except BaseException:  # the user's Ctrl-C reaches this thread: end the probes now, not at their timeout
            pool.shutdown(wait=False, cancel_futures=True)
            for child in list(_live):
                _kill(child, wait=False)
            raise
        pool.shutdown()
        if cache is not None:
            cache.update({keys[i]: results[i] for i in todo if keys[i]})
    return [r for r in results if r is not None]


def probe_one(target: ProbeTarget, timeout: float) -> ProbeResult:
    """Import ``target`` in a child process; never raises for anything the plugin does.

    ``timeout`` counts from the moment the child has imported the app's own side (it says so through a pipe),
    so a busy machine starting Python slowly does not count against the plugin.
    """
    with tempfile.TemporaryDirectory(prefix="detector-app-probe-") as tmp:
        request_file, result_file, output_file = (Path(tmp) / n for n in ("request.json", "result.json", "out.txt"))
        ready_read, ready_write = os.pipe()
        request = {**asdict(target), "sys_path": [p for p in sys.path if isinstance(p, str)],
                   "result": str(result_file), "ready_fd": ready_write}
        request_file.write_text(json.dumps(request), encoding="utf-8")
        started = time.monotonic()
        try:
            with open(output_file, "wb") as output:
                # Its own session: the user's Ctrl-C reaches the app, not the probe, and a timeout kills the whole
                # group (a plugin that started processes of its own too). Files, not pipes, for its output:
                # nothing can block on them.
                child = subprocess.Popen([sys.executable, "-X", "faulthandler", "-c", _BOOTSTRAP, str(request_file)],
                                         stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                         start_new_session=True, pass_fds=(ready_write,),
                                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
                os.close(ready_write)
                ready_write = -1
                _live.add(child)
                try:
                    _wait_ready(ready_read, STARTUP_LIMIT_S)
                    code = child.wait(timeout)
                except subprocess.TimeoutExpired:
                    _kill(child)
                    log.debug("plugin probe of %s timed out after %.1f s", target.location, timeout)
                    return ProbeResult(error=f"timed out after {timeout:g} s while being imported", timeout_s=timeout)
                except BaseException:  # the user's Ctrl-C: leave no child behind, then let it through
                    _kill(child)
                    raise
                finally:
                    _live.discard(child)
        finally:
            os.close(ready_read)
            if ready_write >= 0:
                os.close(ready_write)
        output_text = _tail(output_file)
        log.debug("plugin probe of %s: exit %s in %.2f s", target.location, code, time.monotonic() - started)
        if code == 0 and result_file.is_file():
            try:
                return ProbeResult.from_json(json.loads(result_file.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                return ProbeResult(error=f"probe gave an unreadable answer: {exc}", traceback=output_text)
        if code < 0:
            return ProbeResult(error=f"crashed (signal {-code}{_signal_name(-code)}) while being imported",
                               traceback=output_text)
        return ProbeResult(error=f"exited (code {code}) while being imported", traceback=output_text)


def _wait_ready(fd: int, limit: float) -> None:
    """Until the child says it is ready (or closed the pipe by ending); a child that never gets there in
    ``limit`` seconds is treated like a plugin that timed out."""
    ready, _, _ = select.select([fd], [], [], limit)
    if not ready:
        raise subprocess.TimeoutExpired("plugin probe", limit)
    os.read(fd, 1)


def _kill(child: subprocess.Popen, wait: bool = True) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()
    if wait:
        child.wait()


def _signal_name(number: int) -> str:
    try:
        return f", {signal.Signals(number).name}"
    except ValueError:
        return ""


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


# --- the cache --------------------------------------------------------------------------------------------


def cache_key(target: ProbeTarget) -> str | None:
    """A hash of everything the probe's answer depends on; None when the code cannot be read (not cached)."""
    import detector_app
    from detector_app.plugins_api.api import API_VERSION

    h = hashlib.sha256()
    for part in (detector_app.__version__, str(API_VERSION), sys.version, sys.executable, _site_state(),
                 target.origin, target.key, target.module_name, target.entry_point, target.group, target.version,
                 target.location):
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    if target.path:
        try:
            _hash_code(Path(target.path), h)
        except OSError:
            return None
    return h.hexdigest()


def _hash_code(path: Path, h: Any) -> None:
    if path.is_file():
        h.update(path.read_bytes())
        return
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(file.relative_to(path)).encode("utf-8", "surrogateescape") + b"\0")
        h.update(file.read_bytes())
        h.update(b"\0")


def _site_state() -> str:
    """When packages are installed or removed the site-packages folders change: probe again then
    (a plugin that failed for a missing dependency may work now)."""
    parts = []
    for entry in sys.path:
        if isinstance(entry, str) and Path(entry).name in ("site-packages", "dist-packages"):
            try:
                parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
            except OSError:
                continue
    return "|".join(parts)


def _cached(entry: Any) -> ProbeResult | None:
    if not isinstance(entry, dict):
        return None
    try:
        return ProbeResult.from_json(entry, cached=True)
    except (TypeError, ValueError):
        return None


class ProbeCache:
    """``{key: result}`` in one JSON file, rewritten atomically; a damaged file is an empty cache."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.info("ignoring unreadable plugin probe cache %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not isinstance(data.get("probes"), dict):
            return {}
        return data["probes"]

    def get(self, key: str) -> ProbeResult | None:
        return _cached(self.read().get(key))

    def update(self, results: dict[str, ProbeResult | None]) -> None:
        with self._lock:
            probes = self.read()
            for key, result in results.items():
                if result is not None:
                    probes.pop(key, None)  # re-inserted last: the oldest entries go first
                    probes[key] = result.to_json()
            for key in list(probes)[:max(0, len(probes) - CACHE_LIMIT)]:
                del probes[key]
            text = json.dumps({"format": CACHE_FORMAT, "probes": probes}, indent=1)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".plugin-probes-", suffix=".json", dir=self.path.parent)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        f.write(text)
                    os.replace(tmp, self.path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            except OSError as exc:  # a read-only cache folder only costs probing again next time
                log.info("could not write the plugin probe cache %s: %s", self.path, exc)


# --- the child side ---------------------------------------------------------------------------------------
