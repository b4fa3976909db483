"""The probe child's side: import one plugin candidate on its own and describe it to the parent.

Runs only in the child process started by :mod:`detector_app.plugins_api.probe`; kept apart so that the
parent's probe module does not import the discovery code it serves (discovery imports the probe's types).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from detector_app.plugins_api import discovery
from detector_app.plugins_api.probe import ProbedPlugin, ProbeResult


def _say_ready(fd: Any) -> None:
    """Tell the parent the app's side is imported: the plugin's time starts now."""
    if isinstance(fd, int) and fd >= 0:
        try:
            os.write(fd, b"r")
            os.close(fd)
        except OSError:
            pass


def child_main(request: dict[str, Any]) -> None:
    """In the child: import the target, describe what it offers, write the answer, exit at once."""
    try:
        result = _describe(request)
    except BaseException as exc:  # anything the app's own side raised is still an answer
        result = ProbeResult(error=f"probe failed: {type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    try:
        with open(request["result"], "w", encoding="utf-8") as f:
            json.dump(result.to_json(), f)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # No atexit handlers or threads the plugin left behind may keep the child alive or change its answer.
        os._exit(0)


def _describe(request: dict[str, Any]) -> ProbeResult:
    _say_ready(request.get("ready_fd"))
    try:
        if request.get("path"):
            obj = discovery.load_module_from_path(Path(request["path"]), request["module_name"])
        else:
            obj = importlib.metadata.EntryPoint(request["key"], request["entry_point"], request["group"]).load()
        items = discovery.plugin_classes(obj)
    except BaseException as exc:  # KeyboardInterrupt or SystemExit from plugin code is a failure
        return ProbeResult(error=discovery.import_error_text(exc), traceback=traceback.format_exc())
    plugins = []
    for item in items:
        name = discovery.declared_name(item, request["key"])
        kind = getattr(item, "kind", "unknown")
        try:
            plugin = discovery.instantiate(item)
        except BaseException as exc:
            reason = str(exc) if isinstance(exc, discovery.PluginLoadError) else discovery.import_error_text(exc)
            plugins.append(ProbedPlugin(str(name), kind if isinstance(kind, str) else "unknown", error=reason))
            continue
        plugins.append(ProbedPlugin(plugin.name, plugin.kind, plugin.version, str(plugin.description or ""),
                                    plugin.api_version, bool(getattr(plugin, "can_import", lambda: False)())))
    return ProbeResult(tuple(plugins))
