"""Hostile labelme and CVAT imports (issue 17): each is refused with one ``error:`` line and exit code 2 through
the CLI, no traceback, the project database and the user's files byte-identical, and nothing outside the image
folder opened (the world of ``hardening_import_helpers``: a secret folder with an image, a FIFO and a private
file beside the data)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from .hardening_import_helpers import assert_one_error_line, make_world, run_cli, unchanged
from .helpers_storage import write_image

pytestmark = pytest.mark.usefixtures("fresh_plugins")


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    return make_world(tmp_path)


# --- labelme ------------------------------------------------------------------------------------------------

def labelme_json(image_path: str = "img_0.png", points: object = None, label: object = "cat",
                 **top: object) -> dict:
    shape = {"label": label, "points": [[2, 3], [20, 30]] if points is None else points, "group_id": None,
             "shape_type": "rectangle", "flags": {}}
    return {"version": "5.5.0", "flags": {}, "shapes": [shape], "imagePath": image_path, "imageData": None,
            "imageHeight": 60, "imageWidth": 80, **top}


def labelme_dataset(root: Path, text: str | None = None, data: dict | None = None) -> Path:
    """A labelme folder: img_0.png with img_0.json beside it (``text`` as it is, else ``data`` as JSON)."""
    write_image(root / "img_0.png", 80, 60)
    payload = text if text is not None else json.dumps(data if data is not None else labelme_json())
    (root / "img_0.json").write_text(payload, encoding="utf-8", errors="surrogatepass")
    return root


def _text(text: str) -> Callable[[Path, Path], Path]:
    return lambda folder, _secret: labelme_dataset(folder, text=text)


def _data(**kwargs: object) -> Callable[[Path, Path], Path]:
    return lambda folder, _secret: labelme_dataset(folder, data=labelme_json(**kwargs))


def _absolute_image_path(folder: Path, secret: Path) -> Path:
    return labelme_dataset(folder, data=labelme_json(image_path=str(secret / "real.png")))


def _json_symlink(target: str) -> Callable[[Path, Path], Path]:
    def build(folder: Path, secret: Path) -> Path:
        labelme_dataset(folder)
        os.symlink(secret / target, folder / "zz.json")
        return folder
    return build


def _json_fifo(folder: Path, _secret: Path) -> Path:
    labelme_dataset(folder)
    os.mkfifo(folder / "img_1.json")
    return folder


def _image_symlink(folder: Path, secret: Path) -> Path:
    labelme_dataset(folder, data=labelme_json(image_path="link.png"))
    os.symlink(secret / "real.png", folder / "link.png")
    return folder


def _labels_txt(content: bytes) -> Callable[[Path, Path], Path]:
    def build(folder: Path, _secret: Path) -> Path:
        labelme_dataset(folder)
        (folder / "labels.txt").write_bytes(content)
        return folder
    return build


LABELME_CASES: list[tuple[str, Callable[[Path, Path], Path], str]] = [
    ("malformed JSON", _text('{"shapes": [}'), "not JSON: Expecting value at line 1"),
    ("not an object", _text("[1, 2]"), "not a labelme file"),
    ("NaN coordinate", _text(json.dumps(labelme_json()).replace("[2, 3]", "[NaN, 3]")),
     "NaN is not a number JSON allows"),
    ("Infinity coordinate", _text(json.dumps(labelme_json()).replace("[2, 3]", "[-Infinity, 3]")),
     "-Infinity is not a number JSON allows"),
    ("1e999 coordinate", _text(json.dumps(labelme_json()).replace("[2, 3]", "[1e999, 3]")), "not finite"),
    ("5000-digit coordinate", _text(json.dumps(labelme_json()).replace("[2, 3]", "[" + "9" * 5000 + ", 3]")),
     "integer string conversion"),
    ("nested 100000 deep", _text('{"shapes": ' + "[" * 100000 + "]" * 100000 + "}"), "nested too deeply"),
    ("not UTF-8", _text("{\"shapes\": [], \"imagePath\": \"\udcff.png\"}"), "not UTF-8 text"),
    ("box far outside the image", _data(points=[[2, 3], [900, 30]]), "lies far outside its 80x60 image"),
    ("empty box", _data(points=[[2, 3], [2, 30]]), "has no area"),
    ("points not numbers", _data(points=[["2", 3], [20, 30]]), "a point must be [x, y]"),
    ("rectangle of 3 points", _data(points=[[2, 3], [20, 30], [5, 5]]), "must have 2 points, not 3"),
    ("label not text", _data(label=7), "shape 0 has no label"),
    ("ANSI escape in a label", _data(label="\x1b[2Jcat"), "control character \\x1b"),
    ("bidi override in a label", _data(label="cat\u202e"), "control character \\u202e"),
    ("size not the image's", _data(imageWidth=81), "is not the image's size 80x60"),
    ("imagePath ../ to a file outside", _data(image_path="../../secret/real.png"), "no image for 'real.png'"),
    ("imagePath ../ to a FIFO outside", _data(image_path="../../../secret/pipe.png"), "no image for 'pipe.png'"),
    ("absolute imagePath outside", _absolute_image_path, "no image for 'real.png'"),
    ("imagePath with a NUL", _data(image_path="img_0.png\x00.txt"), "control character \\x00"),
    ("imagePath missing", _data(image_path=None), "'imagePath' must name the image file"),
    ("image symlinked outside", _image_symlink, "no image for 'link.png'"),
    ("JSON symlinked to a file outside", _json_symlink("private.txt"), "zz.json: 'zz.json' leads outside"),
    ("JSON symlinked to a FIFO outside", _json_symlink("pipe.png"), "zz.json: 'zz.json' leads outside"),
    ("FIFO as a JSON", _json_fifo, "img_1.json: it is not a regular file"),
    ("labels.txt not UTF-8", _labels_txt(b"\xff\xfe cat"), "labels.txt: cannot read it: not UTF-8"),
    ("control character in labels.txt", _labels_txt(b"cat\n\x1b[31mdog\n"), "control character \\x1b"),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in LABELME_CASES], ids=[c[0] for c in LABELME_CASES])
def test_hostile_labelme_is_one_error_line(world: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                          build: Callable[[Path, Path], Path], expected: str) -> None:
    dataset = build(world["root"] / "data" / "labelme", world["secret"])
    with unchanged(world):
        code, _out, err = run_cli(capsys, "import", "labelme", str(dataset), "--project", str(world["project"]))
    assert_one_error_line(code, err, expected)


# --- CVAT ---------------------------------------------------------------------------------------------------

def cvat_xml(image: str = 'name="img_0.png" width="80" height="60"',
             box: str = 'xtl="2" ytl="3" xbr="20" ybr="30"', prolog: str = "", label: str = "cat") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>{prolog}<annotations><version>1.1</version><meta><task><id>1</id>'
            f"<labels><label><name>{label}</name></label></labels></task></meta><image id=\"0\" {image}>"
            f'<box label="{label}" occluded="0" {box} z_order="0"/></image></annotations>')


def cvat_dataset(root: Path, xml: str) -> Path:
    write_image(root / "images" / "img_0.png", 80, 60)
    (root / "annotations.xml").write_text(xml, encoding="utf-8")
    return root


def _xml(text: str) -> Callable[[Path, Path], Path]:
    return lambda folder, _secret: cvat_dataset(folder, text)


def _external_entity(folder: Path, secret: Path) -> Path:
    prolog = f'<!DOCTYPE annotations [<!ENTITY leak SYSTEM "file://{secret / "private.txt"}">]>'
    return cvat_dataset(folder, cvat_xml(prolog=prolog, label="&leak;"))


def _xml_symlink(target: str) -> Callable[[Path, Path], Path]:
    def build(folder: Path, secret: Path) -> Path:
        write_image(folder / "images" / "img_0.png", 80, 60)
        os.symlink(secret / target, folder / "annotations.xml")
        return folder
    return build


def _xml_fifo(folder: Path, _secret: Path) -> Path:
    write_image(folder / "images" / "img_0.png", 80, 60)
    os.mkfifo(folder / "annotations.xml")
    return folder


def _cvat_image_symlink(folder: Path, secret: Path) -> Path:
    cvat_dataset(folder, cvat_xml(image='name="link.png" width="80" height="60"'))
    os.symlink(secret / "real.png", folder / "images" / "link.png")
    return folder


LAUGHS = ('<!DOCTYPE annotations [<!ENTITY a "aaaaaaaaaa">' + "".join(
    f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)) + "]>")

CVAT_CASES: list[tuple[str, Callable[[Path, Path], Path], str]] = [
    ("malformed XML", _xml(cvat_xml()[:-20]), "not XML: unclosed token"),
    ("not XML at all", _xml("\x00\x01 binary"), "not XML: not well-formed"),
    ("billion laughs", _xml(cvat_xml(prolog=LAUGHS, label="&j;")), "refused: DTDForbidden"),
    ("external entity", _external_entity, "refused: DTDForbidden"),
    ("VOC file instead", _xml("<annotation><filename>img_0.png</filename></annotation>"),
     "the root element is <annotation>, not <annotations>"),
    ("CVAT for video", _xml(cvat_xml().replace("<image", '<track id="0" label="cat"></track><image')),
     "a CVAT for video file"),
    ("NaN coordinate", _xml(cvat_xml(box='xtl="nan" ytl="3" xbr="20" ybr="30"')), "'nan' is not a finite number"),
    ("1e999 coordinate", _xml(cvat_xml(box='xtl="2" ytl="3" xbr="1e999" ybr="30"')), "not a finite number"),
    ("5000-digit coordinate", _xml(cvat_xml(box=f'xtl="2" ytl="3" xbr="{"9" * 5000}" ybr="30"')),
     "is not a finite number"),
    ("missing coordinate", _xml(cvat_xml(box='xtl="2" ytl="3" xbr="20"')), "has no ybr"),
    ("inverted box", _xml(cvat_xml(box='xtl="20" ytl="30" xbr="2" ybr="3"')), "has no area"),
    ("box far outside the image", _xml(cvat_xml(box='xtl="2" ytl="3" xbr="20" ybr="3000"')),
     "lies far outside its 80x60 image"),
    ("size not the image's", _xml(cvat_xml(image='name="img_0.png" width="640" height="60"')),
     "width x height 640x60 is not the image's size 80x60"),
    ("name ../ outside", _xml(cvat_xml(image='name="../../secret/real.png" width="80" height="60"')),
     "inside the image folder"),
    ("absolute name", _xml(cvat_xml(image='name="/etc/passwd" width="80" height="60"')), "not an absolute path"),
    ("name with a NUL (not XML 1.0)", _xml(cvat_xml(image='name="img_0.png&#0;" width="80" height="60"')),
     "not XML: reference to invalid character number"),
    ("name with a C1 CSI", _xml(cvat_xml(image='name="&#x9b;2Jimg.png" width="80" height="60"')),
     "control character \\x9b"),
    ("bidi override in a label", _xml(cvat_xml(label="cat&#x202e;")), "control character \\u202e"),
    ("image listed twice", _xml(cvat_xml().replace("</annotations>", '<image id="1" name="img_0.png"/></annotations>')),
     "'img_0.png': listed twice"),
    ("no images", _xml(cvat_xml().split("<image")[0] + "</annotations>"), "no <image> elements"),
    ("image symlinked outside", _cvat_image_symlink, "no image for 'link.png'"),
    ("annotations.xml symlinked to a file outside", _xml_symlink("private.txt"), "leads outside"),
    ("annotations.xml symlinked to a FIFO outside", _xml_symlink("pipe.png"), "leads outside"),
    ("FIFO as annotations.xml", _xml_fifo, "it is not a regular file"),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CVAT_CASES], ids=[c[0] for c in CVAT_CASES])
def test_hostile_cvat_is_one_error_line(world: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                       build: Callable[[Path, Path], Path], expected: str) -> None:
    dataset = build(world["root"] / "data" / "cvat", world["secret"])
    with unchanged(world):
        code, _out, err = run_cli(capsys, "import", "cvat", str(dataset), "--project", str(world["project"]))
    assert_one_error_line(code, err, expected)
