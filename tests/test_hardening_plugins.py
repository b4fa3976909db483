"""Issue 11, items 2 and 10: hostile plugins cannot take the app down, and plugin failures print one line.

Each hostile plugin (hang, segfault, ``os._exit(0)``, ``KeyboardInterrupt``, ``sys.exit``, an exception at
import) sits in the user plugin folder while the real CLI runs in a new process: ``plugins`` reports each one
with its reason, ``export yolo`` works beside them, and ``import coco`` / ``export coco`` never even look at
user plugins. The CLI processes all start with the module and run side by side (their start-up, mostly importing
torch, dominates the run time), each in its own app home; the in-process tests of the manager run meanwhile.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detector_app.plugins_api import (
    API_VERSION,
    DISABLED,
    FAILED,
    LOADED,
    PluginError,
    PluginManager,
    reset_manager,
)
from detector_app.plugins_api import manager as manager_module
from detector_app.plugins_api.probe import CACHE_NAME, TIMEOUT_ENV
from detector_app.storage import Project

from .conftest import REPO_ROOT

pytestmark = pytest.mark.usefixtures("fresh_plugins")

PROBE_TIMEOUT_S = 2

HOSTILE = {
    "hangs": ("import time\ntime.sleep(1000)\n", "timed out after 2 s while being imported"),
    "segfaults": ("import ctypes\nctypes.string_at(0)\n", "crashed (signal 11, SIGSEGV) while being imported"),
    "exits": ("import os\nos._exit(0)\n", "exited (code 0) while being imported"),
    "interrupts": ("raise KeyboardInterrupt\n", "failed to import: KeyboardInterrupt"),
    "sys_exits": ("import sys\nsys.exit(4)\n", "failed to import: SystemExit: 4"),
    "raises": ("raise ValueError('bad plugin')\n", "failed to import: ValueError: bad plugin"),
}

MARKED = f'''
import os
with open({{marker!r}}, "a") as f:
    f.write(f"{{{{os.getpid()}}}}\\n")

from detector_app.plugins_api import ExporterPlugin


class Marked(ExporterPlugin):
    name = "marked"
    version = "1.0"
    api_version = {API_VERSION}

    def export(self, repo, out_dir, scope="reviewed", copy_images=False):
        (out_dir / "marked.txt").write_text("ok")
        return out_dir / "marked.txt"


PLUGINS = [Marked]
'''

FAILING = f'''
from detector_app.plugins_api import ExporterPlugin, SourcePlugin, DetectorPlugin, DetectionModel


class BadFormat(ExporterPlugin):
    name = "badfmt"
    version = "1"
    api_version = {API_VERSION}

    def export(self, repo, out_dir, scope="reviewed", copy_images=False):
        raise ValueError("no export today")

    def import_(self, repo, path, images_dir):
        raise ValueError("no import today")


class BadSource(SourcePlugin):
    name = "badsrc"
    version = "1"
    api_version = {API_VERSION}

    def can_open(self, spec):
        return spec.endswith(".bad")

    def open(self, spec):
        raise ValueError("cannot open " + spec)


class BrokenModel(DetectionModel):
    class_names = ("__background__", "thing")

    def predict(self, image_bgr):
        raise ValueError("predict broke")


class BadDetector(DetectorPlugin):
    name = "baddet"
    version = "1"
    api_version = {API_VERSION}

    def load(self, options=""):
        return BrokenModel()


PLUGINS = [BadFormat, BadSource, BadDetector]
'''


def _home(root: Path, plugins: dict[str, str]) -> Path:
    folder = root / "data" / "plugins"
    folder.mkdir(parents=True)
    for name, text in plugins.items():
        (folder / f"{name}.py").write_text(text)
    return root


def _hostile(marker: Path) -> dict[str, str]:
    return {**{name: code for name, (code, _) in HOSTILE.items()}, "marked": MARKED.format(marker=str(marker))}


def _markers(marker: Path) -> list[str]:
    return marker.read_text().split() if marker.exists() else []


# --- in this process: the manager, the registry and the probe cache ----------------------------------------


@pytest.fixture
def user_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from detector_app.paths import app_paths

    monkeypatch.setenv(TIMEOUT_ENV, str(PROBE_TIMEOUT_S))
    folder = app_paths().user_plugins
    folder.mkdir(parents=True)
    yield folder


def test_builtin_formats_never_start_plugin_discovery(user_plugins: Path, tmp_path: Path) -> None:
    from detector_app.transfer.formats import find_format

    marker = tmp_path / "marker"
    (user_plugins / "marked.py").write_text(MARKED.format(marker=str(marker)))
    reset_manager()
    assert find_format("coco").name == "coco" and find_format("COCO", "import").name == "coco"
    assert manager_module._manager is None and not marker.exists()
    assert find_format("marked").name == "marked"  # a plugin format: discovery (a probe) now, no import yet
    assert len(_markers(marker)) == 1 and str(os.getpid()) not in _markers(marker)


def test_probe_cache_disabled_plugins_and_reprobing_after_an_edit(user_plugins: Path, tmp_path: Path,
                                                                  labelled: Path) -> None:
    from detector_app.plugins_api.settings import PluginSettings

    marker = tmp_path / "marker"
    plugin = user_plugins / "marked.py"
    plugin.write_text(MARKED.format(marker=str(marker)))

    def discovered() -> PluginManager:
        manager = PluginManager(entry_point_group=None)
        manager.discover()
        return manager

    manager = discovered()
    assert manager.record("marked").state == LOADED and manager.record("marked").plugin is None
    assert len(_markers(marker)) == 1  # the probe
    discovered()
    assert len(_markers(marker)) == 1  # cached: unchanged code is not probed again
    assert "marked" in manager.exporters() and manager.format_plugin("yolo")  # used: imported in this process now
    assert _markers(marker)[1:] == [str(os.getpid())]

    plugin.write_text(plugin.read_text() + "# edited\n")
    discovered()
    assert len(_markers(marker)) == 3  # the edit is probed

    PluginSettings().set_enabled("marked", False)
    manager = discovered()
    with Project.open(labelled / "project") as project, \
            pytest.raises(PluginError, match="plugin 'marked' is disabled"):
        manager.export("marked", project.repo, tmp_path / "out")
    assert manager.record("marked").state == DISABLED and "marked" not in manager.exporters()
    assert len(_markers(marker)) == 3  # a disabled plugin is never imported

    rechecked = PluginManager(entry_point_group=None)
    rechecked.discover(recheck=True)
    assert len(_markers(marker)) == 4  # `plugins list --recheck` probes again


def test_keyboard_interrupt_raised_by_plugin_code_in_the_app_is_a_failure(user_plugins: Path) -> None:
    # The probe child passes (no pytest there); imported here, the plugin raises KeyboardInterrupt.
    (user_plugins / "sly.py").write_text(MARKED.format(marker=os.devnull).replace(
        "import os\n", "import os, sys\nif 'pytest' in sys.modules:\n    raise KeyboardInterrupt\n", 1))
    from detector_app.plugins_api import get_manager

    manager = get_manager()  # counts the user's Ctrl-Cs, so a plugin's own KeyboardInterrupt is told apart
    assert manager.record("marked").state == LOADED
    assert manager.exporters().get("marked") is None
    assert manager.record("marked").state == FAILED
    assert manager.record("marked").error == "failed to import: KeyboardInterrupt"


def test_hostile_installed_distribution_is_probed_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "crashy_plugin").mkdir(parents=True)
    (site / "crashy_plugin" / "__init__.py").write_text("import ctypes\nctypes.string_at(0)\n")
    info = site / "crashy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crashy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[detector_app.plugins]\ncrashy = crashy_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(TIMEOUT_ENV, str(PROBE_TIMEOUT_S))

    record = next(r for r in PluginManager().discover() if r.name == "crashy")
    assert (record.state, record.origin, record.version) == (FAILED, "package", "0.1")
    assert record.error == "crashed (signal 11, SIGSEGV) while being imported"
    assert "crashy_plugin" not in sys.modules


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with one labelled image, and its COCO export (to import elsewhere)."""
    from detector_app.transfer.exporting import export_coco

    root = tmp_path_factory.mktemp("labelled")
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(root / "img.png")
    with Project.open(root / "project") as project:
        record = project.repo.add_image(root / "img.png")
        project.repo.add_annotation(record.id, "cat", (5, 5, 20, 10))
        export_coco(project.repo, root / "coco", scope="all")
    return root


def _start(home: Path, *args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "DETECTOR_APP_HOME": str(home), TIMEOUT_ENV: str(PROBE_TIMEOUT_S),
           "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "detector_app", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module", autouse=True)
def cli(labelled: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every CLI run of this module, started at once when the module starts (each new process spends seconds
    importing torch, so they run side by side while the in-process tests below go on); each in its own app home.
    """
    root = tmp_path_factory.mktemp("cli")
    project = str(labelled / "project")
    marker = {h: root / f"{h}.marker" for h in ("listing", "builtin", "yolo")}
    homes = {h: _home(root / f"home-{h}", _hostile(marker[h])) for h in marker}
    failing = _home(root / "home-failing", {"failing": FAILING})
    (root / "clip.bad").write_text("")
    runs = {
        # hostile plugins beside: `plugins` reports them; built-in commands never look at them; yolo works.
        "plugins": _start(homes["listing"], "plugins", cwd=root),
        "export coco": _start(homes["builtin"], "export", "coco", str(root / "coco"), "--project", project,
                              "--scope", "all", cwd=root),
        "import coco": _start(homes["builtin"], "import", "coco", str(labelled / "coco" / "instances.json"),
                              "--images", str(labelled), "--project", str(root / "imported"), cwd=root),
        "export yolo": _start(homes["yolo"], "export", "yolo", str(root / "yolo"), "--project", project,
                              "--scope", "all", cwd=root),
        # plugins failing at run time
        "exporting": _start(failing, "export", "badfmt", str(root / "out"), "--project", project, cwd=root),
        "importing": _start(failing, "import", "badfmt", str(root / "labels.txt"), "--project",
                            str(root / "p2"), cwd=root),
        "opening": _start(failing, "detect", str(root / "clip.bad"), cwd=root),
        "detecting": _start(failing, "detect", str(labelled / "img.png"), "--model", "plugin:baddet", cwd=root),
    }
    yield {"root": root, "homes": homes, "failing": failing, "marker": marker, "runs": runs}
    for process in runs.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"{process.args} hung: {err[-2000:]}")
    assert "Traceback" not in err and "Traceback" not in out, err
    return process.returncode, out, err


def _report_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip() and "frame/s]" not in line]  # not detect's bar


def _hostile_reports() -> list[str]:
    return sorted(f"WARNING: plugin {name} did not load: {reason}" for name, (_, reason) in HOSTILE.items())


def test_plugins_lists_each_hostile_plugin_with_its_reason(cli: dict[str, Any]) -> None:
    code, out, err = _finish(cli["runs"]["plugins"])
    assert code == 0, err
    lines = out.splitlines()
    for name, (_, reason) in HOSTILE.items():
        row = next(i for i, line in enumerate(lines) if line.split()[:2] == [name, FAILED])
        assert lines[row + 1].strip() == f"error: {reason}", name
    assert any(line.split()[:2] == ["marked", LOADED] for line in lines)
    assert sorted(_report_lines(err)) == _hostile_reports()  # one line each on stderr, nothing else
    assert len(_markers(cli["marker"]["listing"])) == 1  # imported once, by its probe, not by the CLI itself


def test_builtin_commands_never_look_at_user_plugins(cli: dict[str, Any], labelled: Path) -> None:
    root = cli["root"]
    code, out, err = _finish(cli["runs"]["export coco"])
    assert (code, out.strip(), err) == (0, f"wrote {root / 'coco' / 'instances.json'}", "")
    code, out, err = _finish(cli["runs"]["import coco"])
    assert (code, err) == (0, "") and out.startswith("imported 1 boxes on 1 images"), err
    assert not cli["marker"]["builtin"].exists()
    assert not (cli["homes"]["builtin"] / "cache" / CACHE_NAME).exists()  # not even a probe ran


def test_an_exporter_plugin_works_beside_hostile_ones(cli: dict[str, Any]) -> None:
    code, out, err = _finish(cli["runs"]["export yolo"])
    root = cli["root"]
    assert code == 0, err
    assert out.strip() == f"wrote {root / 'yolo' / 'data.yaml'}"
    assert (root / "yolo" / "labels" / "train" / "img.txt").is_file()
    assert sorted(_report_lines(err)) == _hostile_reports()
    assert len(_markers(cli["marker"]["yolo"])) == 1  # probed (listed as a format), never imported


def test_plugin_failures_at_run_time_print_one_line_and_log_the_traceback(cli: dict[str, Any]) -> None:
    root = cli["root"]
    expected = {
        "exporting": "error: plugin 'badfmt' failed while exporting: ValueError: no export today",
        "importing": "error: plugin 'badfmt' failed while importing: ValueError: no import today",
        "opening": f"error: plugin 'badsrc' failed while opening {root / 'clip.bad'}: ValueError: cannot open",
        "detecting": "error: plugin 'baddet' failed while detecting: ValueError: predict broke",
    }
    for action, line in expected.items():
        code, out, err = _finish(cli["runs"][action])
        assert code == 2, (action, err)
        assert len(_report_lines(err)) == 1 and _report_lines(err)[0].startswith(line), (action, err)
    log = (cli["failing"] / "logs" / "detector-app.log").read_text()
    for action in expected:
        assert f"failed while {action}" in log
    assert log.count("Traceback (most recent call last)") >= len(expected)
    assert 'raise ValueError("no export today")' in log
