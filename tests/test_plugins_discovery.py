"""Finding plugins: the shipped folder, the user folder, and an installed distribution's entry points.

The "installed" plugin is a throw-away distribution written into a temporary folder exactly as pip lays
one out (package + ``*.dist-info`` with ``METADATA`` and ``entry_points.txt``) and put on the path: nothing
is installed into the venv, and the folder goes away with the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector_app.cli.main import main
from detector_app.paths import app_paths
from detector_app.plugins_api import API_VERSION, LOADED, PluginManager, reset_manager
from detector_app.plugins_api.detectors import PluginDetector, create_detector
from detector_app.plugins_api.records import ORIGIN_APP, ORIGIN_PACKAGE, ORIGIN_USER
from detector_app.plugins_api.settings import PluginSettings, settings_path
from detector_app.storage import Project

from .conftest import REPO_ROOT

pytestmark = pytest.mark.usefixtures("fresh_plugins")

PACKAGE = "throwaway_detector_plugin"

PACKAGE_INIT = f'''
import numpy as np
from detector_app.core.detections import Detections
from detector_app.plugins_api import API_VERSION, DetectionModel, DetectorPlugin


class CornerModel(DetectionModel):
    """Finds a "corner" box of the size given in the options, with scores 0.9 and 0.3."""

    def __init__(self, size):
        self.size = size
        self.class_names = ("__background__", "corner", "edge")

    def predict(self, image_bgr):
        s = self.size
        return Detections(np.array([[0, 0, s, s], [1, 1, 2, 2]]), np.array([0.9, 0.3]), np.array([1, 2]),
                          self.class_names)


class CornerDetector(DetectorPlugin):
    name = "corner"
    version = "0.3"
    api_version = {API_VERSION}
    description = "a test detector"

    def load(self, options=""):
        return CornerModel(float(options or 5))
'''

LISTING_MODULE = f'''
from detector_app.plugins_api import API_VERSION, ExporterPlugin


class Listing(ExporterPlugin):
    name = "listing"
    version = "0.3"
    api_version = {API_VERSION}

    def export(self, repo, out_dir, scope="reviewed", copy_images=False):
        target = out_dir / "images.txt"
        target.write_text("".join(f"{{i.path}}\\n" for i in repo.list_images(limit=10_000)))
        return target


PLUGINS = [Listing]
'''


@pytest.fixture
def throwaway_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder holding an 'installed' distribution with two entry points, on sys.path for this test only."""
    site = tmp_path / "site"
    (site / PACKAGE).mkdir(parents=True)
    (site / PACKAGE / "__init__.py").write_text(PACKAGE_INIT)
    (site / PACKAGE / "listing.py").write_text(LISTING_MODULE)
    info = site / "throwaway_detector_plugin-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway-detector-plugin\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(
        f"[detector_app.plugins]\ncorner = {PACKAGE}:CornerDetector\nlisting = {PACKAGE}.listing\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_installed_distribution_is_found_through_its_entry_points(throwaway_site: Path) -> None:
    manager = PluginManager()
    records = {r.name: r for r in manager.discover()}

    corner, listing = records["corner"], records["listing"]
    assert (corner.state, corner.kind, corner.version, corner.origin) == (LOADED, "detector", "0.3", ORIGIN_PACKAGE)
    assert corner.location == f"throwaway-detector-plugin==0.3 ({PACKAGE}:CornerDetector)"
    assert (listing.state, listing.kind, listing.api_version) == (LOADED, "exporter", API_VERSION)
    # The shipped plugins come from the app's own folder.
    assert {records[n].origin for n in ("yolo", "voc", "stream")} == {ORIGIN_APP}
    assert set(manager.detectors()) == {"corner"}


def test_plugin_detector_behaves_like_the_builtin_detector(throwaway_site: Path) -> None:
    from detector_app.detection.detector import DetectorConfig

    detector = create_detector("plugin:corner:7", DetectorConfig(score_threshold=0.5))
    assert isinstance(detector, PluginDetector)
    frame = np.zeros((20, 20, 3), np.uint8)

    detections = detector.predict(frame)
    assert detections.boxes.tolist() == [[0, 0, 7, 7]] and detections.names == ["corner"]
    detector.update_config(score_threshold=0.1, classes=("edge",))
    assert detector.predict(frame).names == ["edge"]
    assert detector.name == "plugin:corner" and detector.class_names == ("__background__", "corner", "edge")
    assert detector.device.type == "cpu" and not detector.fast_path_active
    # The batch runner drives it like the built-in detector, worker threads included.
    from detector_app.detection.batch import detect_frames
    from detector_app.sources import Frame

    frames = [Frame(frame, i, 0.0, "test", "video") for i in range(6)]
    assert [d.names for _, d in detect_frames(frames, detector, workers=2)] == [["edge"]] * 6
    with pytest.raises(Exception, match="unknown class name"):
        detector.update_config(classes=("zebra",))


def test_cli_in_a_new_process_lists_and_uses_the_installed_plugin(throwaway_site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(throwaway_site), str(REPO_ROOT)])}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "detector_app", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    listed = cli("plugins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    by_name = {r["name"]: r for r in json.loads(listed.stdout)}
    assert by_name["corner"]["origin"] == "package" and by_name["listing"]["kind"] == "exporter"

    image = tmp_path / "one.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    with Project.open(tmp_path / "p") as project:
        project.repo.add_image(image)
    out = tmp_path / "listed"
    exported = cli("export", "listing", str(out), "--project", str(tmp_path / "p"), "--scope", "all")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == f"wrote {out / 'images.txt'}"
    assert (out / "images.txt").read_text() == f"{image}\n"


def test_user_folder_plugins_load_and_app_folder_wins_a_name_clash(tmp_path: Path) -> None:
    user = app_paths().user_plugins
    (user / "mypkg").mkdir(parents=True)
    (user / "mypkg" / "__init__.py").write_text("from .fmt import PLUGINS\n")
    (user / "mypkg" / "fmt.py").write_text(LISTING_MODULE.replace('"listing"', '"mine"'))
    (user / "yolo_copy.py").write_text(LISTING_MODULE.replace('"listing"', '"yolo"'))
    (user / "_helper.py").write_text("raise RuntimeError('helpers starting with _ are not plugins')\n")

    manager = PluginManager(entry_point_group=None)
    records = manager.discover()

    assert (manager.record("mine").state, manager.record("mine").origin) == (LOADED, ORIGIN_USER)
    assert manager.record("yolo").origin == ORIGIN_APP
    clash = next(r for r in records if r.location.endswith("yolo_copy.py"))
    assert (clash.name, clash.state, clash.origin) == ("yolo", "failed", ORIGIN_USER)
    assert "already used by the plugin from" in clash.error
    assert not any("_helper" in r.location for r in records)


def test_enable_disable_is_remembered_for_the_cli_and_a_new_manager(capsys: pytest.CaptureFixture) -> None:
    assert main(["plugins", "disable", "voc"]) == 0
    assert capsys.readouterr().out.strip() == "voc: disabled"
    assert json.loads(settings_path().read_text()) == {"disabled": ["voc"]}

    reset_manager()
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert any(line.split()[:3] == ["voc", "disabled", "format"] for line in table.splitlines())
    assert main(["export", "voc", "/nonexistent/never-written"]) == 2
    assert "no export format called 'voc'" in capsys.readouterr().err

    fresh = PluginManager()
    fresh.discover()
    assert fresh.record("voc").state == "disabled"
    fresh.set_enabled("voc", True)
    assert PluginSettings().is_enabled("voc")


def test_damaged_settings_file_enables_everything_instead_of_failing() -> None:
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text("{ not json")
    manager = PluginManager()
    assert manager.discover() and all(r.state == LOADED for r in manager.records())


DOTS_SOURCE = f'''
import numpy as np
from detector_app.plugins_api import API_VERSION, SourcePlugin
from detector_app.sources import Frame, FrameSource


class DotsSource(FrameSource):
    kind = "video"

    def __init__(self, path):
        super().__init__()
        self.path, self.count = path, int(open(path).read())

    @property
    def frame_count(self):
        return self.count

    def read(self):
        if self.count == 0:
            return None
        self.count -= 1
        return Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0, self.path, "video", self.path)


class Dots(SourcePlugin):
    name = "dots"
    version = "1"
    api_version = {API_VERSION}

    def can_open(self, spec):
        return spec.endswith(".dots")

    def open(self, spec):
        return DotsSource(spec)


PLUGINS = [Dots]
'''


def test_open_source_asks_source_plugins_for_a_file_type_it_does_not_know(tmp_path: Path) -> None:
    from detector_app.errors import SourceError
    from detector_app.plugins_api.sources import open_any_source as open_source

    app_paths().user_plugins.mkdir(parents=True)
    (app_paths().user_plugins / "dots.py").write_text(DOTS_SOURCE)
    (tmp_path / "three.dots").write_text("3")
    (tmp_path / "other.xyz").write_text("3")

    with open_source(tmp_path / "three.dots") as source:
        assert source.frame_count == 3 and len(list(source)) == 3
    with pytest.raises(SourceError, match="cannot read .*other.xyz"):  # the built-in message when no plugin fits
        open_source(tmp_path / "other.xyz")


def test_the_example_in_the_plugin_docs_works(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = (REPO_ROOT / "docs" / "PLUGINS.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    app_paths().user_plugins.mkdir(parents=True)
    (app_paths().user_plugins / "csv_boxes.py").write_text(example)
    image = tmp_path / "one.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    with Project.open(tmp_path / "p") as project:
        record = project.repo.add_image(image)
        project.repo.add_annotation(record.id, "cat", (1, 2, 3, 4))

    assert main(["export", "csv", str(tmp_path / "out"), "--project", str(tmp_path / "p"), "--scope", "all"]) == 0
    assert (tmp_path / "out" / "boxes.csv").read_text().splitlines() == ["file,class,x,y,w,h",
                                                                         "one.png,cat,1.0,2.0,3.0,4.0"]
