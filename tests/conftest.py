"""Shared fixtures. Qt runs offscreen and every app folder points into a throw-away directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Set before anything imports Qt or reads the app folders.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TORCH_HOME", str(Path(__file__).parent / ".." / ".pytest_cache" / "torch-home"))

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_app_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, logs and the default project go to a fresh folder for each test."""
    home = tmp_path_factory.mktemp("app-home")
    monkeypatch.setenv("DETECTOR_APP_HOME", str(home))
    return home


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """An empty folder to create a project in."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real videos and COCO set in ../shared/data; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (only present on the project's dev/CI machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots and other outputs worth looking at after a run (ignored by git)."""
    path = REPO_ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path


def have_xvfb() -> bool:
    return shutil.which("Xvfb") is not None
