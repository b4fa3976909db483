"""Shared fixtures. Qt runs offscreen and every app folder points into a throw-away directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .backends import postgres_server, project_source  # noqa: F401  (fixtures: SQLite and PostgreSQL projects)

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


@pytest.fixture
def shapes_project_dir(project_dir: Path) -> Path:
    """A project holding 12 generated 64 px images of shapes with exact boxes (for quick training runs)."""
    from detector_app.storage import Project

    from .synthetic_shapes import make_shapes_dataset, store_in_project

    with Project.open(project_dir) as project:
        store_in_project(project.repo, make_shapes_dataset(12, seed=4, out_dir=project.path / "images", size=64,
                                                           object_size=(0.3, 0.5)))
    return project_dir


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    """Plugins discovered anew for the test (each test has its own app home, so its own plugins.json)."""
    from detector_app.plugins_api import reset_manager

    reset_manager()
    yield
    reset_manager()


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
