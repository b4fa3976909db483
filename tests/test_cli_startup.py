"""Start-up cost follows the layers: the commands that run no model never import torch, Qt or OpenCV's peers.

Each command runs in a fresh interpreter that prints, after ``main()`` returns, which heavy top-level packages it
left in ``sys.modules``. Speed itself is measured by ``benchmarks/bench_startup.py``, not asserted here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers_storage import small_dataset

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "cv2", "PySide6", "openvino", "nncf", "pycocotools")
# Listing plugins, or finding a format that is not built in, imports the app's plugin modules, and the stream
# source plugin needs OpenCV to exist at all: allowed there, nowhere else.
ALLOWED = {"export yolo": {"cv2"}, "plugins": {"cv2"}}

CHILD = """
import json, sys
from detector_app.cli.main import main
try:
    rc = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    rc = exc.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print('LOADED ' + json.dumps({'rc': rc, 'heavy': heavy}))
"""


def run_main(argv: list[str], cwd: Path, heavy: tuple[str, ...] = HEAVY) -> tuple[int, list[str], str]:
    """``main(argv)`` in a fresh interpreter: its exit code, the ``heavy`` packages loaded, its output."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "DETECTOR_APP_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(argv), json.dumps(heavy)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    report = next((json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("LOADED ")), None)
    assert report is not None, proc.stdout + proc.stderr
    return report["rc"], report["heavy"], proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return small_dataset(tmp_path_factory.mktemp("startup-data"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, dataset: tuple[Path, Path]) -> tuple[Path, list[str]]:
    """A project filled by ``import coco`` in a fresh interpreter, and what that import loaded."""
    project = tmp_path_factory.mktemp("startup-project") / "project"
    labels, images = dataset
    rc, heavy, output = run_main(["import", "coco", str(labels), "--images", str(images), "--project", str(project)],
                                 project.parent)
    assert rc == 0, output
    return project, heavy


def test_import_coco_loads_no_heavy_package(imported: tuple[Path, list[str]]) -> None:
    assert imported[1] == []


@pytest.mark.parametrize("command", ["--help", "stats", "export coco", "export yolo", "plugins"])
def test_command_without_a_model_loads_no_heavy_package(command: str, imported: tuple[Path, list[str]],
                                                        tmp_path: Path) -> None:
    project = str(imported[0])
    argv = {"--help": ["--help"],
            "stats": ["stats", "--project", project],
            "export coco": ["export", "coco", str(tmp_path / "coco"), "--scope", "all", "--project", project],
            "export yolo": ["export", "yolo", str(tmp_path / "yolo"), "--scope", "all", "--project", project],
            "plugins": ["plugins"]}[command]
    rc, heavy, output = run_main(argv, tmp_path)
    assert rc == 0, output
    assert set(heavy) <= ALLOWED.get(command, set()), f"{command} imported {heavy}"


@pytest.mark.parametrize("command", ["stats", "export coco"])
def test_commands_that_read_a_project_load_neither_numpy_nor_pillow(command: str, imported: tuple[Path, list[str]],
                                                                    tmp_path: Path) -> None:
    """Their floor is SQLAlchemy's import; numpy, Pillow (image checks, frames, copied images) and alembic (schema
    changes) are for the commands that need them."""
    project = str(imported[0])
    argv = {"stats": ["stats", "--project", project],
            "export coco": ["export", "coco", str(tmp_path / "coco"), "--scope", "all", "--project", project]}[command]
    rc, loaded, output = run_main(argv, tmp_path, ("numpy", "PIL", "alembic"))
    assert rc == 0, output
    assert loaded == [], f"{command} imported {loaded}"


def test_import_into_a_project_loads_pillow_but_not_numpy(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    """Checking image files needs Pillow only: numpy comes with decoded pixels, alembic with schema changes."""
    from detector_app.storage import Project

    with Project.open(tmp_path / "project", create=True):
        pass
    labels, images = dataset
    rc, loaded, output = run_main(["import", "coco", str(labels), "--images", str(images), "--project",
                                   str(tmp_path / "project")], tmp_path, ("numpy", "PIL", "alembic"))
    assert rc == 0, output
    assert loaded == ["PIL"], output


def test_every_subcommand_help_loads_no_heavy_package(tmp_path: Path) -> None:
    from detector_app.cli.main import build_parser

    for name in _subcommands(build_parser()):
        rc, heavy, output = run_main([name, "--help"], tmp_path)
        assert rc == 0, output
        assert heavy == [], f"{name} --help imported {heavy}"


def test_preset_names_match_the_presets() -> None:
    from detector_app.detection.preset_names import DEFAULT_PRESET, PRESET_NAMES
    from detector_app.detection.presets import PRESETS

    assert PRESET_NAMES == tuple(PRESETS)
    assert DEFAULT_PRESET in PRESETS


@pytest.mark.parametrize("package", ["detector_app.plugins_api", "detector_app.storage"])
def test_lazy_exports_resolve_every_name(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert sorted(module._EXPORTS) == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{module._EXPORTS[name]}"), name)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)
