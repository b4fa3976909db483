"""Broken plugins are reported with their reason and never stop the app, the CLI or a built-in feature;
a failed export leaves no partial output."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector_app.cli.main import main
from detector_app.paths import app_paths
from detector_app.plugins_api import API_VERSION, FAILED, LOADED, PluginError, PluginManager, reset_manager
from detector_app.storage import Project

HEADER = "from detector_app.plugins_api import API_VERSION, ExporterPlugin, SourcePlugin\n"

BROKEN = {
    "syntax_error.py": HEADER + "def oops(:\n    pass\n",
    "needs_missing.py": HEADER + "import detector_app_no_such_dependency\n",
    "exits_on_import.py": "import sys\nsys.exit(3)\n",
    "no_plugins_list.py": HEADER + "class Lonely(ExporterPlugin):\n    pass\n",
    "future_api.py": HEADER + f'''
class FutureFormat(ExporterPlugin):
    name = "future"
    version = "2.0"
    api_version = {API_VERSION + 1}

    def export(self, repo, out_dir, scope="reviewed", copy_images=False):
        return out_dir

PLUGINS = [FutureFormat]
''',
    "unfinished.py": HEADER + '''
class Unfinished(SourcePlugin):
    name = "unfinished"
    version = "0.1"
    api_version = API_VERSION

    def can_open(self, spec):
        return True

PLUGINS = [Unfinished]
''',
    "half_way.py": HEADER + '''
class HalfWay(ExporterPlugin):
    """Writes part of its output, then fails: what a real bug half-way through an export looks like."""

    name = "half_way"
    version = "0.1"
    api_version = API_VERSION

    def export(self, repo, out_dir, scope="reviewed", copy_images=False):
        (out_dir / "labels").mkdir()
        (out_dir / "labels" / "first.txt").write_text("0 0.5 0.5 0.1 0.1\\n")
        (out_dir / "keep.txt").write_text("overwritten?")
        raise RuntimeError("disk on fire")

PLUGINS = [HalfWay]
''',
    "crashing_source.py": HEADER + '''
class Crashing(SourcePlugin):
    name = "crashing_source"
    version = "0.1"
    api_version = API_VERSION

    def can_open(self, spec):
        raise ValueError("cannot even look at " + spec)

    def open(self, spec):
        raise AssertionError("never reached")

PLUGINS = [Crashing]
''',
}


@pytest.fixture(autouse=True)
def broken_plugins() -> Iterator[Path]:
    folder = app_paths().user_plugins
    folder.mkdir(parents=True)
    for name, text in BROKEN.items():
        (folder / name).write_text(text)
    reset_manager()
    yield folder
    reset_manager()


@pytest.fixture
def project_with_labels(tmp_path: Path) -> Path:
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(image)
    with Project.open(tmp_path / "project") as project:
        record = project.repo.add_image(image)
        project.repo.add_annotation(record.id, "cat", (5, 5, 20, 10))
    return tmp_path / "project"


def test_each_broken_plugin_is_reported_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    manager = PluginManager()
    records = {r.name: r for r in manager.discover()}

    expected = {
        "syntax_error": "syntax error in syntax_error.py line 2",
        "needs_missing": "missing dependency: no module named 'detector_app_no_such_dependency'",
        "exits_on_import": "failed to import: SystemExit: 3",
        "no_plugins_list": "the module has no PLUGINS list",
        "future": f"future: targets plugin API {API_VERSION + 1}; this app provides API {API_VERSION}",
        "unfinished": "Unfinished cannot be created: Can't instantiate abstract class Unfinished",
    }
    for name, reason in expected.items():
        assert records[name].state == FAILED, name
        assert reason in records[name].error, (name, records[name].error)
        assert any(name in r.getMessage() and reason in r.getMessage() for r in caplog.records), name
    assert records["future"].kind == "exporter" and records["unfinished"].kind == "source"
    # The working plugins, shipped and user ones, are untouched by their broken neighbours.
    assert all(records[n].state == LOADED for n in ("yolo", "voc", "stream", "half_way", "crashing_source"))


def test_cli_lists_the_errors_and_keeps_working(capsys: pytest.CaptureFixture, project_with_labels: Path,
                                                tmp_path: Path) -> None:
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert "error: missing dependency: no module named 'detector_app_no_such_dependency'" in table
    assert "error: syntax error in syntax_error.py line 2" in table

    assert main(["export", "coco", str(tmp_path / "coco"), "--project", str(project_with_labels),
                 "--scope", "all"]) == 0
    assert (tmp_path / "coco" / "instances.json").is_file()
    assert main(["export", "future", str(tmp_path / "x"), "--project", str(project_with_labels)]) == 2
    assert "no export format called 'future'" in capsys.readouterr().err


def test_failed_export_leaves_no_partial_output(capsys: pytest.CaptureFixture, project_with_labels: Path,
                                                tmp_path: Path) -> None:
    existing = tmp_path / "existing"  # a previous export, with a file of the user's beside it
    assert main(["export", "yolo", str(existing), "--project", str(project_with_labels), "--scope", "all"]) == 0
    (existing / "keep.txt").write_text("the user's file")
    before = {p.relative_to(existing): p.read_bytes() for p in existing.rglob("*") if p.is_file()}
    fresh = tmp_path / "fresh"

    for out in (existing, fresh):
        code = main(["export", "half_way", str(out), "--project", str(project_with_labels), "--scope", "all"])
        assert code == 2
        err = capsys.readouterr().err
        assert f"error: plugin 'half_way' failed while exporting: RuntimeError: disk on fire; nothing was " \
               f"written to {out}" in err

    assert {p.relative_to(existing): p.read_bytes() for p in existing.rglob("*") if p.is_file()} == before
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "img.png", "project"]  # no staging left

    assert main(["plugins", "list", "--json"]) == 0
    assert "last run failed while exporting: RuntimeError: disk on fire" in capsys.readouterr().out
    # The same process goes on exporting with a working plugin (replacing its own previous export only).
    assert main(["export", "yolo", str(existing), "--project", str(project_with_labels), "--scope", "all"]) == 0
    assert (existing / "labels" / "train" / "img.txt")  # no split: train.read_text() == "0 0.250000 0.250000 0.333333 0.250000\n"
    assert (existing / "keep.txt").read_text() == "the user's file"


def test_a_crashing_source_plugin_is_skipped_and_recorded() -> None:
    manager = PluginManager()
    manager.discover()

    assert manager.open_source("weird://thing") is None
    assert "ValueError: cannot even look at weird://thing" in manager.record("crashing_source").error
    assert manager.record("crashing_source").state == LOADED  # one bad call does not unload it


def test_using_a_failed_plugin_names_the_reason() -> None:
    manager = PluginManager()
    manager.discover()
    with pytest.raises(PluginError, match="plugin 'needs_missing' could not be loaded: missing dependency"):
        manager.export("needs_missing", None, Path("unused"))
