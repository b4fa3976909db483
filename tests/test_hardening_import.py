"""Hostile imports (issue 11, items 4, 6 and 7): each is refused with one ``error:`` line and exit code 2, no
traceback, no hang, the project database and the user's files byte-identical, and no file outside the image
folder ever opened. Plus property tests (hypothesis) for path confinement and for the COCO, YOLO and VOC
importers, and the one rule for names (``core.names``) with the CLI's escaping of what it prints.

Most cases run the CLI's code path in-process (``main([...])``: a subprocess costs seconds of imports); the
ones where a hang is the failure (a FIFO) run the real console script in a subprocess with a timeout.
"""
from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector_app.core.names import InvalidNameError, check_name, is_unsafe_char, name_problem, printable
from detector_app.errors import ImportValidationError
from detector_app.storage import Project
from detector_app.transfer.importing import import_labels

from .hardening_import_helpers import (
    HYPOTHESIS,
    REPO_ROOT,
    VOC,
    YOLO,
    assert_one_error_line,
    db_bytes,
    make_world,
    run_cli,
    unchanged,
    voc_dataset,
    yolo_dataset,
)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    return make_world(tmp_path)

# --- COCO: item 4 and the file_name half of item 6 -----------------------------------------------------------

def _coco_case(edit: Callable[[str, dict[str, Any], Path], str | None]) -> Callable[[dict[str, Path]], Path]:
    """A COCO file made from the clean one: ``edit(text, data, world root)`` returns new JSON text, or None to
    write ``data`` as changed in place."""
    def build(world: dict[str, Path]) -> Path:
        text = world["json"].read_text()
        data = json.loads(text)
        new = edit(text, data, world["root"])
        out = world["json"].with_name("hostile.json")
        out.write_text(new if new is not None else json.dumps(data))
        return out
    return build


def _set_image(key: str, value: Any) -> Callable[[str, dict[str, Any], Path], None]:
    def edit(_text: str, data: dict[str, Any], _root: Path) -> None:
        data["images"][1][key] = value
    return edit


def _set_category_name(name: str) -> Callable[[str, dict[str, Any], Path], None]:
    def edit(_text: str, data: dict[str, Any], _root: Path) -> None:
        data["categories"][0]["name"] = name
    return edit


def _symlink_out(target: str) -> Callable[[str, dict[str, Any], Path], None]:
    def edit(_text: str, data: dict[str, Any], root: Path) -> None:
        os.symlink(root / "secret" / target, root / "data" / "images" / "link.png")
        data["images"][1]["file_name"] = "link.png"
    return edit


def _fifo_image(_text: str, data: dict[str, Any], root: Path) -> None:
    os.mkfifo(root / "data" / "images" / "pipe.png")
    data["images"][1]["file_name"] = "pipe.png"


COCO_CASES: list[tuple[str, Callable[[str, dict[str, Any], Path], str | None], str]] = [
    ("5000-digit integer", lambda text, _d, _r: text.replace('"id": 101', '"id": ' + "9" * 5000, 1),
     "integer string conversion"),
    ("5000-digit bbox value", lambda text, _d, _r: text.replace("[1.5,", "[" + "7" * 5000 + ",", 1),
     "not usable JSON"),
    ("300-character file_name", _set_image("file_name", "x" * 296 + ".png"), "longer than 255 bytes"),
    ("300-character folder", _set_image("file_name", "d" * 300 + "/a.png"), "longer than 255 bytes"),
    ("lone surrogate category", lambda text, _d, _r: text.replace('"name": "cat"', '"name": "\\ud800"'), "\\ud800"),
    ("ANSI escape category", _set_category_name("\x1b[2J\x1b[Hcat"), "control character \\x1b"),
    ("NUL in category", _set_category_name("c\x00at"), "control character \\x00"),
    ("DEL in category", _set_category_name("cat\x7f"), "control character \\x7f"),
    ("C1 CSI in category", _set_category_name("\x9b2Jcat"), "control character \\x9b"),
    ("bidi override in category", _set_category_name("cat\u202egod"), "control character \\u202e"),
    ("newline in category", _set_category_name("ca\nt"), "control character \\x0a"),
    ("surrogate supercategory", lambda text, _d, _r: text.replace('"supercategory": "animal"',
                                                                   '"supercategory": "\\udfff"', 1), "\\udfff"),
    ("NUL in file_name", _set_image("file_name", "img_1.png\x00.txt"), "control character \\x00"),
    ("ANSI in file_name", _set_image("file_name", "\x1b]0;owned\x07img.png"), "control character \\x1b"),
    ("surrogate file_name", lambda text, _d, _r: text.replace('"img_1.png"', '"\\udc80.png"'), "\\udc80"),
    ("file_name ../", _set_image("file_name", "../../secret/real.png"), "inside the image folder"),
    ("absolute file_name", lambda _t, data, root: data["images"][1].update(
        file_name=str(root / "secret" / "real.png")), "not an absolute path"),
    ("backslash escape", _set_image("file_name", "..\\..\\secret\\real.png"), "inside the image folder"),
    ("symlink to an image outside", _symlink_out("real.png"), "leads outside"),
    ("symlink to a FIFO outside", _symlink_out("pipe.png"), "leads outside"),
    ("symlink to a folder outside", lambda _t, data, root: (
        os.symlink(root / "secret", root / "data" / "images" / "sub"),
        data["images"][1].update(file_name="sub/real.png")) and None, "leads outside"),
    ("FIFO as an image", _fifo_image, "not a regular file"),
]


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in COCO_CASES], ids=[c[0] for c in COCO_CASES])
def test_hostile_coco_file_is_one_error_line(world: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                             edit: Callable[..., str | None], expected: str) -> None:
    hostile = _coco_case(edit)(world)
    with unchanged(world):
        code, _out, err = run_cli(capsys, "import", "coco", str(hostile), "--images", str(world["images"]),
                                  "--project", str(world["project"]))
    assert_one_error_line(code, err, expected)


def test_dev_zero_and_odd_paths_as_the_json(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cases = [("/dev/zero", "not a regular file"), (str(world["images"]), "not a regular file"),
             (str(world["root"] / ("j" * 300 + ".json")), "File name too long"),
             (str(world["root"] / "missing.json"), "file not found"),
             (str(world["secret"] / "private.txt" / "x.json"), "file not found")]
    for path, expected in cases:
        with unchanged(world):
            code, _out, err = run_cli(capsys, "import", "coco", path, "--images", str(world["images"]),
                                      "--project", str(world["project"]))
        assert_one_error_line(code, err, expected)


def test_json_over_the_size_limit(world: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTOR_APP_MAX_JSON_BYTES", "100")
    with unchanged(world):
        code, _out, err = run_cli(capsys, "import", "coco", str(world["json"]), "--images", str(world["images"]),
                                  "--project", str(world["project"]))
    assert_one_error_line(code, err, "more than the limit of 100 bytes", "DETECTOR_APP_MAX_JSON_BYTES")


@pytest.mark.parametrize("failing", ["lstat", "stat"])
def test_other_os_errors_while_checking_paths(world: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    """An I/O error (EIO) on the image folder, whichever call meets it, is a problem line, not a traceback."""
    images = str(world["images"].resolve())
    real_lstat, real_stat = os.lstat, os.stat

    def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:  # met while resolving symlinks
        if os.fsdecode(path).startswith(images) and os.path.basename(os.fsdecode(path)).startswith("img_"):
            raise OSError(errno.EIO, "Input/output error")
        return real_lstat(path, *args, **kwargs)

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fsdecode(path).startswith(images) and os.fsdecode(path).endswith(".png"):
            raise OSError(errno.EIO, "Input/output error")
        return real_stat(path, *args, **kwargs)

    with unchanged(world):
        monkeypatch.setattr(os, failing, lstat if failing == "lstat" else stat)
        code, _out, err = run_cli(capsys, "import", "coco", str(world["json"]), "--images", images,
                                  "--project", str(world["project"]))
        monkeypatch.undo()
    assert_one_error_line(code, err, "Input/output error" if failing == "lstat" else "not found")


def test_fifo_as_the_json_does_not_hang(world: dict[str, Path]) -> None:
    """The real console script; a FIFO nobody writes to would block an ``open()`` forever."""
    fifo = world["root"] / "instances.json"
    os.mkfifo(fifo)
    before = db_bytes(world["project"])
    result = subprocess.run([sys.executable, "-m", "detector_app", "import", "coco", str(fifo), "--images",
                             str(world["images"]), "--project", str(world["project"])],
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert_one_error_line(result.returncode, result.stderr, "not a regular file")
    assert db_bytes(world["project"]) == before


# --- VOC and YOLO: item 6 -------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.usefixtures("fresh_plugins")
def test_voc_folder_escape_is_refused_by_the_cli(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """``<folder>../../secret</folder>`` naming a FIFO there: refused before anything is opened (an open
    would hang) and the image is not looked up by name instead."""
    dataset = voc_dataset(world["root"] / "data" / "voc", "../../../secret", "pipe.png")
    with unchanged(world):
        code, _out, err = run_cli(capsys, "import", "voc", str(dataset), "--project", str(world["project"]))
    assert_one_error_line(code, err, "inside the image folder")


VOC_CASES = [
    ("folder ../..", "../../../secret", "img_0.png", "cat", "inside the image folder"),
    ("absolute folder", "/etc", "img_0.png", "cat", "not an absolute path"),
    ("filename ../", "", "../../../secret/real.png", "cat", "inside the image folder"),
    ("C1 control in a class name", "", "img_0.png", "\x9b2Jcat", "control character \\x9b"),
    ("bidi override in a class name", "", "img_0.png", "cat\u202e", "control character \\u202e"),
    ("300-character filename", "", "f" * 300 + ".png", "cat", "longer than 255 bytes"),
]


@pytest.mark.parametrize(("folder", "filename", "name", "expected"), [c[1:] for c in VOC_CASES],
                         ids=[c[0] for c in VOC_CASES])
def test_hostile_voc(world: dict[str, Path], folder: str, filename: str, name: str, expected: str) -> None:
    dataset = voc_dataset(world["root"] / "data" / "voc", folder, filename, name)
    with unchanged(world), Project.open(world["project"]) as p, pytest.raises(ImportValidationError) as info:
        import_labels(p.repo, "voc", dataset)
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)) + "]>",
    '<!DOCTYPE annotation [<!ENTITY leak SYSTEM "file:///etc/passwd">]>',
], ids=["billion laughs", "external entity"])
def test_voc_xml_with_a_dtd_is_refused(world: dict[str, Path], prolog: str) -> None:
    """VOC files are parsed like CVAT's: no DTD, so no entity expansion and no file read through one."""
    dataset = voc_dataset(world["root"] / "data" / "voc", "", "img_0.png", "&j;" if "laughs" in prolog else "&leak;")
    xml_file = dataset / "Annotations" / "img_0.xml"
    xml_file.write_text(prolog + xml_file.read_text())
    with unchanged(world), Project.open(world["project"]) as p, pytest.raises(ImportValidationError) as info:
        import_labels(p.repo, "voc", dataset)
    assert "refused: DTDForbidden" in str(info.value) and "\n" not in str(info.value)


def test_symlinks_out_of_the_folders_are_refused(world: dict[str, Path]) -> None:
    """An image symlink leading outside is not indexed (so never opened); a label file symlinked to a FIFO or
    to a file outside is refused (never read)."""
    voc = voc_dataset(world["root"] / "data" / "voc", "", "link.png")
    os.symlink(world["secret"] / "real.png", voc / "JPEGImages" / "link.png")
    yolo = yolo_dataset(world["root"] / "data" / "yolo")
    os.symlink(world["secret"] / "real.png", yolo / "images" / "img_1.png")
    os.symlink(world["secret"] / "pipe.png", yolo / "labels" / "img_1.txt")
    os.symlink(world["secret"] / "private.txt", yolo / "labels" / "img_2.txt")
    with unchanged(world), Project.open(world["project"]) as p:
        with pytest.raises(ImportValidationError) as info:
            import_labels(p.repo, "voc", voc)
        assert "no image for 'link.png'" in str(info.value)
        with pytest.raises(ImportValidationError) as info:
            import_labels(p.repo, "yolo", yolo)
        assert "labels/img_1.txt: " in str(info.value) and "leads outside" in str(info.value)
        assert "labels/img_2.txt: " in str(info.value)


def test_fifo_and_odd_label_files(world: dict[str, Path]) -> None:
    yolo = yolo_dataset(world["root"] / "data" / "yolo")
    os.mkfifo(yolo / "labels" / "img_1.txt")
    voc = voc_dataset(world["root"] / "data" / "voc", "", "img_0.png")
    os.mkfifo(voc / "Annotations" / "img_1.xml")
    (voc / "labels.txt").write_bytes(b"\xff\xfe not utf-8")
    cases: list[tuple[Callable[[], None], Any, Path, str]] = [
        (lambda: None, YOLO.YoloFormat(), yolo, "not a regular file"),
        (lambda: None, VOC.VocFormat(), voc, "not a regular file"),
        ((voc / "Annotations" / "img_1.xml").unlink, VOC.VocFormat(), voc, "labels.txt: cannot read it: not UTF-8"),
        (lambda: ((yolo / "labels" / "img_1.txt").unlink(), (yolo / "classes.txt").write_text("cat\n\x1b[31mdog\n")),
         YOLO.YoloFormat(), yolo, r"control character \\x1b"),
    ]
    for prepare, importer, dataset, expected in cases:
        prepare()
        with unchanged(world), Project.open(world["project"]) as p, pytest.raises(ImportValidationError) as info:
            import_labels(p.repo, importer.name, dataset)
        assert re.search(expected, str(info.value)), str(info.value)


# --- item 7: names and printing -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["\x1b[2J", "a\x00b", "a\x7f", "a\x85b", "\ud800", "a\u2028b", "\u202eabc", "\ufeffx",
                                  "", "   ", "n" * 201, 3])
def test_check_name_refuses(name: Any) -> None:
    with pytest.raises(InvalidNameError) as info:
        check_name(name)
    assert not any(is_unsafe_char(c) for c in str(info.value))


@pytest.mark.parametrize("name", ["cat", "  traffic light ", "Straßenbahn", "猫", "👩‍👩‍👧", "می‌خواهم", "a b"])
def test_check_name_accepts(name: str) -> None:
    assert check_name(name) == name.strip()


@HYPOTHESIS
@given(text=st.text())
def test_printable_escapes_every_control(text: str) -> None:
    shown = printable(text)
    assert name_problem("x" + shown.replace("\\", "")) is None or len(shown) > 199
    assert "\n" not in shown and "\x1b" not in shown
    assert printable(text, multiline=True).split("\n") == [printable(line) for line in text.split("\n")]


def test_stats_escapes_class_names(world: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """A name already in a database (from an older version, or from a model's class list) is printed escaped."""
    with Project.open(world["project"]) as p:
        p.repo.ensure_category("\x1b[2J\x1b[Hevil")
    code, out, _err = run_cli(capsys, "stats", "--project", str(world["project"]))
    assert code == 0
    assert "\x1b" not in out and "\\x1b[2J\\x1b[Hevil" in out
    assert not any(is_unsafe_char(c) for line in out.splitlines() for c in line)


def test_class_picker_refuses_a_control_character(qtbot: Any) -> None:
    from detector_app.ui.dialogs import ClassPicker

    picker = ClassPicker(["cat", "dog"])
    qtbot.addWidget(picker)
    picker.search.setText("new\x1b[31m")
    picker.accept()
    assert picker.result() == 0 and "control character" in picker.problem.text()
    assert picker.chosen() is None
    picker.search.setText("bird")
    picker.accept()
    assert picker.result() == 1 and picker.chosen() == "bird"
