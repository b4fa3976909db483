"""The built wheel works on its own: installed into a fresh virtual environment, run from outside the source
tree, it finds its built-in plugins (YOLO, VOC), exports in every format and opens the main window with the
icons and stylesheet from its bundled resources. An editable install of the same tree finds them too.

The fresh environments reuse this one's dependencies through a ``.pth`` file (nothing is downloaded); a
``.pth`` line only adds a folder to ``sys.path``, so the ``.pth`` files in there (this checkout's own editable
install) are not run and the source tree stays out of reach.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import venv
from pathlib import Path

from .conftest import REPO_ROOT
from .helpers_storage import small_dataset

SHIPPED = ("detector_app", "plugins", "resources")


def _run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: int = 240) -> str:
    return _run_all([args], cwd, env, timeout)[0]


def _run_all(commands: list[list[str | Path]], cwd: Path, env: dict[str, str], timeout: int = 240) -> list[str]:
    """Run the commands side by side (each CLI start-up costs seconds of imports); their stdouts, in order."""
    procs = [subprocess.Popen([str(a) for a in args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args in commands]
    outs = []
    for args, proc in zip(commands, procs, strict=True):
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{stdout}\n{stderr}"
        outs.append(stdout)
    return outs


def _copy_tree(dest: Path) -> Path:
    """The files a build reads, copied (the build writes build/ and *.egg-info next to them)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    for name in SHIPPED:
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _fresh_venv(path: Path) -> Path:
    """A venv without pip, seeing this environment's packages after its own; returns its python."""
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], path, _env(path))
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.strip()) / "_reuse_dev_packages.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return python


def _pip_install(python: Path, *args: str | Path) -> None:
    """pip from this environment, installing into ``python``'s (the fresh one has no pip of its own)."""
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", *args], python.parent, _env(python.parent))


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(DETECTOR_APP_HOME=str(home / "app-home"), QT_QPA_PLATFORM="offscreen", PYTHONNOUSERSITE="1")
    return env


def test_pyproject_lists_every_package() -> None:
    """The package list is explicit (resources/ and plugins/ are mapped in): nothing under detector_app is left out."""
    from setuptools import find_namespace_packages

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_namespace_packages(str(REPO_ROOT), include=["detector_app", "detector_app.*"]))
    found = {p for p in found if "__pycache__" not in p}
    listed = set(config["packages"])
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    stale = {p for p in listed - found if p.split(".")[1:2] not in (["bundled_plugins"], ["bundled_resources"])}
    assert stale == set(), "these packages in pyproject.toml no longer exist (the build would fail)"
    assert config["package-dir"] == {"detector_app.bundled_plugins": "plugins",
                                     "detector_app.bundled_resources": "resources"}


GUI_SMOKE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QToolBar, QToolButton
    import detector_app
    from detector_app import resources
    from detector_app.plugins_api.manager import app_plugin_folder
    from detector_app.ui.app import ensure_application
    from detector_app.ui.icons import icon_name
    from detector_app.ui.main_window import MainWindow

    installed = Path(detector_app.__file__).resolve().parent
    assert installed.is_relative_to(Path(sys.prefix).resolve()), installed
    assert resources.resources_root() == installed / "bundled_resources", resources.resources_root()
    assert app_plugin_folder() == installed / "bundled_plugins", app_plugin_folder()
    app = ensure_application()
    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    for key, value in (("model/weights", "none"), ("model/preset", "retinanet_light"), ("model/size", 320),
                       ("view/theme", "dark")):
        settings.setValue(key, value)
    window = MainWindow(settings=settings, project_path=Path(sys.argv[2]))
    window.show()
    app.processEvents()
    assert not window.windowIcon().isNull()
    actions = [a for bar in window.findChildren(QToolBar) for a in bar.actions()
               if isinstance(bar.widgetForAction(a), QToolButton)]
    assert len(actions) >= 15, len(actions)
    names = resources.icon_names()
    for action in actions:
        assert icon_name(action) in names and not action.icon().isNull(), action.text()
    assert app.property("theme") == "dark"
    assert app.styleSheet() == (installed / "bundled_resources" / "styles" / "dark.qss").read_text()
    window.close()
    print(f"gui ok: {len(actions)} toolbar icons")
""")


def test_wheel_installs_and_runs_outside_the_source_tree(tmp_path: Path) -> None:
    src = _copy_tree(tmp_path / "src")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", dist, src], tmp_path, _env(tmp_path))
    (wheel,) = dist.glob("detector_app-*.whl")
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, wheel)
    app = python.parent / "detector-app"
    work = tmp_path / "work"  # cwd for everything below: not the source tree, not its copy
    work.mkdir()
    env = _env(tmp_path)

    json_path, images = small_dataset(tmp_path / "dataset", n_images=3, boxes_per_image=2)
    project = tmp_path / "project"
    script = work / "gui_smoke.py"
    script.write_text(GUI_SMOKE)
    listed, imported, gui = _run_all([
        [app, "plugins", "list", "--json"],
        [app, "import", "coco", json_path, "--images", images, "--project", project],
        [python, script, tmp_path / "settings.ini", tmp_path / "gui-project"],
    ], work, env)
    plugins = {p["name"]: p for p in json.loads(listed)}
    for name in ("yolo", "voc", "labelme", "cvat"):
        assert plugins[name]["state"] == "loaded", plugins[name]
    assert "imported 6 boxes on 3 images" in imported
    assert "gui ok" in gui

    expected = {"coco": "instances.json", "yolo": "data.yaml", "voc": "Annotations", "labelme": "labels.txt",
                "cvat": "annotations.xml"}
    _run_all([[app, "export", fmt, tmp_path / "out" / fmt, "--project", project] for fmt in expected], work, env)
    for fmt, main_file in expected.items():
        assert (tmp_path / "out" / fmt / main_file).exists(), sorted((tmp_path / "out" / fmt).iterdir())
    assert len(list((tmp_path / "out" / "voc" / "Annotations").glob("*.xml"))) == 3
    assert len(list((tmp_path / "out" / "yolo" / "labels").rglob("*.txt"))) == 3
    assert len([p for p in (tmp_path / "out" / "labelme").rglob("*.json") if not p.name.startswith(".")]) == 3


def test_editable_install_finds_resources_and_plugins(tmp_path: Path) -> None:
    src = _copy_tree(tmp_path / "src")
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, "-e", src)
    work = tmp_path / "work"
    work.mkdir()
    probe = textwrap.dedent("""
        from detector_app import resources
        from detector_app.plugins_api import get_manager
        from detector_app.plugins_api.manager import app_plugin_folder
        print(resources.resources_root())
        print(app_plugin_folder())
        print(" ".join(sorted(r.name for r in get_manager().records() if r.state == "loaded")))
    """)
    root, plugins, loaded = _run([python, "-c", probe], work, _env(tmp_path)).splitlines()
    assert (root, plugins) == (str(src / "resources"), str(src / "plugins"))
    assert {"yolo", "voc", "labelme", "cvat"} <= set(loaded.split())
