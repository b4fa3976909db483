"""Hardening, degenerate images (issue 11, item 3): one rule for import, detection sources and training.

1 x 100000 strips, a 30000 x 30000 PNG decompression bomb, a truncated JPEG and a float TIFF are skipped
with a one-line reason in folder runs, refused at import (CLI and Python API) with the database untouched,
refused before training starts, and never reach the model; the Detector itself refuses a frame it cannot
resize, and a frame far larger than its input gives boxes in the frame's own pixels.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from detector_app.cli.main import main
from detector_app.core.images import (
    MAX_ASPECT,
    MAX_PIXELS,
    UnusableImageError,
    check_image,
    image_size_problem,
)
from detector_app.detection.detector import PRESHRINK_PIXELS, Detector, DetectorConfig
from detector_app.detection.weights import LoadedModel, load_model
from detector_app.errors import DetectorAppError, SourceError, StorageError, TrainingError
from detector_app.sources import open_source
from detector_app.sources.images import ImageFolderSource, decode_image
from detector_app.storage import Project
from detector_app.transfer.importing import import_coco

from .helpers_storage import small_dataset

# --- files -------------------------------------------------------------------------------------------------


class _Bits:
    """Deflate bit writer: values LSB first, Huffman codes MSB first."""

    def __init__(self) -> None:
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value: int, count: int) -> None:
        self.acc |= value << self.n
        self.n += count
        while self.n >= 8:
            self.out.append(self.acc & 255)
            self.acc >>= 8
            self.n -= 8

    def code(self, code: int, count: int) -> None:
        self.put(int(format(code, f"0{count}b")[::-1], 2), count)

    def copies(self, count: int) -> None:
        for _ in range(count):
            self.code(0xC5, 8)  # length 258 (code 285), then distance code 0 (distance 1)
            self.code(0, 5)

    def take(self) -> bytes:
        out, self.out = bytes(self.out), bytearray()
        return out


def zeros_zlib(n: int) -> bytes:
    """A zlib stream of ``n`` zero bytes, built by hand in milliseconds (zlib takes seconds for 900 MB):
    one fixed-Huffman block of literal zeros then copies of 258 bytes; 8 copies are exactly 13 bytes, so
    the middle of the stream is one 13-byte pattern repeated."""
    literals = (n - 1) % 258 + 1
    q, r = divmod((n - literals) // 258, 8)
    assert q >= 2, "meant for large streams"
    bits = _Bits()
    bits.put(1, 1)  # final block
    bits.put(1, 2)  # fixed Huffman codes
    for _ in range(literals):
        bits.code(0x30, 8)  # literal 0
    bits.copies(8)
    head = bits.take()
    bits.copies(8)
    steady = bits.take()  # the same 13 bytes every 8 copies from now on
    bits.copies(r)
    bits.code(0, 7)  # end of block
    if bits.n:
        bits.put(0, 8 - bits.n)
    adler = ((n % 65521) << 16) | 1  # adler32 of n zero bytes
    return b"\x78\x01" + head + steady * (q - 1) + bits.take() + struct.pack(">I", adler)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def write_black_png(path: Path, width: int, height: int) -> Path:
    """A valid 8-bit grayscale PNG of zeros of any size, without ever holding its pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
                     + _chunk(b"IDAT", zeros_zlib(height * (width + 1))) + _chunk(b"IEND", b""))
    return path


def write_png(path: Path, width: int, height: int, value: int = 120) -> Path:
    assert cv2.imwrite(str(path), np.full((height, width, 3), value, np.uint8))
    return path


def write_truncated_jpeg(path: Path) -> Path:
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", pixels)
    assert ok
    path.write_bytes(data.tobytes()[: len(data) // 2])
    return path


def write_float_tiff(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(0).random((20, 30), dtype=np.float32)).save(path)
    return path


# name -> (writer, the size its header gives, words the reason must contain)
BAD = {
    "wide.png": (lambda p: write_png(p, 100000, 1), (100000, 1), "too thin"),
    "tall.png": (lambda p: write_png(p, 1, 100000), (1, 100000), "too thin"),
    "bomb.png": (lambda p: write_black_png(p, 30000, 30000), (30000, 30000), "too large"),
    "truncated.jpg": (write_truncated_jpeg, (64, 64), "truncated"),
    "float.tif": (write_float_tiff, (30, 20), "floating-point"),
}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    for name, (write, _, _) in BAD.items():
        write(folder / name)
    return folder


def test_the_hand_built_bomb_is_a_real_png(tmp_path: Path) -> None:
    for n in (5000, 123_457, 30001 * 57):
        assert zlib.decompress(zeros_zlib(n)) == bytes(n)
    small = write_black_png(tmp_path / "small.png", 300, 200)
    assert np.asarray(Image.open(small)).shape == (200, 300) and decode_image(small).max() == 0
    bomb = write_black_png(tmp_path / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 10_000_000  # 900 megapixels in a few MB


# --- the rule ---------------------------------------------------------------------------------------------


def test_size_rule_boundaries() -> None:
    assert image_size_problem(MAX_ASPECT, 1) is None and image_size_problem(1, MAX_ASPECT) is None
    assert "too thin" in image_size_problem(MAX_ASPECT + 1, 1)
    assert "too thin" in image_size_problem(1, 100000) and "too thin" in image_size_problem(100000, 1)
    assert image_size_problem(12000, 12000) is None  # large photos stay usable
    assert "too large" in image_size_problem(30000, 30000)
    assert "too large" in image_size_problem(MAX_PIXELS // 10000 + 1, 10000)
    assert "no pixels" in image_size_problem(0, 5)


def test_own_pixel_limit_holds_when_pillow_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # some other library switched Pillow's check off
    with pytest.raises(UnusableImageError, match="too large: 900 megapixels"):
        check_image(write_black_png(tmp_path / "bomb.png", 30000, 30000))


@pytest.mark.parametrize("name", list(BAD))
def test_one_reason_everywhere(bad_dir: Path, name: str, project_dir: Path) -> None:
    """The folder source, a single-image source, the Python import API and training all give the reason the
    rule gives; it is one line and names no Python exception."""
    path = bad_dir / name
    with pytest.raises(UnusableImageError) as caught:
        check_image(path)
    reason = caught.value.reason
    assert BAD[name][2] in reason and "\n" not in reason and "Error" not in reason

    folder = ImageFolderSource(bad_dir)
    assert list(folder) == []
    assert dict(folder.skipped)[str(path)] == reason

    with pytest.raises(SourceError, match="cannot read image") as single:
        open_source(path)
    assert str(single.value).endswith(reason)

    with Project.open(project_dir) as project, pytest.raises(StorageError) as imported:
        project.repo.add_image(path)
    assert str(imported.value).endswith(reason) and str(path) in str(imported.value)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


@pytest.mark.parametrize("damage", ["truncated in the pixels", "no IEND", "one byte flipped in the pixels"])
def test_a_damaged_png_is_refused_without_decoding(tmp_path: Path, damage: str) -> None:
    """Without ``decode`` a PNG is checked by its structure (every chunk's CRC through IEND); accidental damage
    is refused there with the reason a decode gives, and by the decode itself."""
    good = write_png(tmp_path / "good.png", 64, 48, value=77).read_bytes()
    idat = good.index(b"IDAT")
    data = {"truncated in the pixels": good[:idat + 20],
            "no IEND": good[:-12],
            "one byte flipped in the pixels": good[:idat + 10] + bytes([good[idat + 10] ^ 0x10]) + good[idat + 11:],
            }[damage]
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    # Pillow's decoder stops at the last pixel: a file cut just before IEND only fails the structure check.
    for decode in (False,) if damage == "no IEND" else (False, True):
        with pytest.raises(UnusableImageError) as caught:
            check_image(path, decode=decode)
        assert caught.value.damaged and "\n" not in caught.value.reason, caught.value.reason
        assert any(w in caught.value.reason.lower() for w in ("truncated", "broken", "checksum")), caught.value.reason


def test_the_crc_check_covers_every_chunk_and_a_bad_stream_fails_where_pixels_are_decoded(tmp_path: Path) -> None:
    """A PNG forged with valid CRCs around a deflate stream that does not inflate passes the import check (it is
    structurally sound) and is refused, with one line, wherever its pixels are decoded (detection, training)."""
    good = write_png(tmp_path / "good.png", 64, 48).read_bytes()
    chunks = [(tag, b"\x78\x01" + bytes(len(body) - 2) if tag == b"IDAT" else body) for tag, body in _png_chunks(good)]
    path = tmp_path / "forged.png"
    path.write_bytes(good[:8] + b"".join(_chunk(tag, body) for tag, body in chunks))
    assert check_image(path).width == 64
    with pytest.raises(UnusableImageError) as caught:
        decode_image(path)
    assert caught.value.damaged and "\n" not in caught.value.reason


def test_the_hash_comes_from_the_same_read(tmp_path: Path) -> None:
    import hashlib

    path = write_png(tmp_path / "a.png", 40, 30)
    checked = check_image(path, digest=True)
    assert checked.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (checked.width, checked.height, check_image(path).sha256) == (40, 30, None)


# --- detect -----------------------------------------------------------------------------------------------


def test_folder_run_skips_bad_images_with_one_line_each(bad_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in BAD:
        (folder / name).symlink_to(bad_dir / name)
    write_png(folder / "a_good.png", 80, 60)
    assert cv2.imwrite(str(folder / "z_good.jpg"), np.full((48, 64, 3), 200, np.uint8))
    out = tmp_path / "r.json"

    result = subprocess.run([sys.executable, "-m", "detector_app", "detect", str(folder), "--out", str(out),
                             "--weights", "none", "--size", "64", "--threshold", "0.005"],
                            capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "DecompressionBomb" not in result.stderr + result.stdout
    assert "done: 2 frames" in result.stdout
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == len(BAD)
    for name, (_, _, words) in BAD.items():
        assert sum(f"{name}: " in line and words in line for line in skipped) == 1, (name, skipped)
    images = json.loads(out.with_name("r.images.json").read_text())["images"]
    assert sorted(Path(i["file_name"]).name for i in images) == ["a_good.png", "z_good.jpg"]
    assert {(i["width"], i["height"]) for i in images} == {(80, 60), (64, 48)}


@pytest.fixture(scope="module")
def light_model() -> LoadedModel:
    return load_model("retinanet_light", weights="none", seed=0)


def test_detector_refuses_frames_it_cannot_resize(light_model: LoadedModel) -> None:
    detector = Detector(light_model, DetectorConfig(size=64, device="cpu"))
    for shape in ((1, 100000, 3), (100000, 1, 3), (0, 10, 3)):
        with pytest.raises(DetectorAppError) as caught:
            detector.predict(np.zeros(shape, np.uint8))
        assert isinstance(caught.value, UnusableImageError) and "cannot detect on" in str(caught.value)
    assert len(detector.predict(np.zeros((1, 20, 3), np.uint8))) >= 0  # thin but resizable: runs


def test_huge_frame_is_shrunk_first_and_boxes_stay_in_its_pixels(light_model: LoadedModel) -> None:
    """A 4352 x 4352 frame (more than PRESHRINK_PIXELS) is shrunk in uint8 to twice the input before the
    float tensor is made. Made of 17 x 17 blocks of a 256 x 256 image, it shrinks exactly to that image,
    so its boxes must be those of the small image times 17."""
    small = np.random.default_rng(3).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(small, 17, axis=0), 17, axis=1)
    assert big.shape[0] * big.shape[1] > PRESHRINK_PIXELS
    detector = Detector(light_model, DetectorConfig(size=128, score_threshold=0.0, max_detections=20,
                                                    device="cpu", fast=False))
    on_small, on_big = detector.predict(small), detector.predict(big)
    assert len(on_big) == len(on_small) > 0
    np.testing.assert_allclose(on_big.boxes, on_small.boxes * 17, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(on_big.scores, on_small.scores, rtol=1e-5)


# --- import -----------------------------------------------------------------------------------------------


@pytest.fixture
def populated_project(tmp_path: Path) -> Path:
    json_path, images_dir = small_dataset(tmp_path / "first", n_images=2)
    project = tmp_path / "proj"
    with Project.open(project) as opened:
        import_coco(opened.repo, json_path, images_dir)
    return project


def _coco_for(folder: Path, name: str, size: tuple[int, int]) -> Path:
    data = {"images": [{"id": 1, "file_name": name, "width": size[0], "height": size[1]}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1,
                             "iscrowd": 0}],
            "categories": [{"id": 1, "name": "thing"}]}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name", list(BAD))
def test_import_coco_refuses_with_one_line_and_leaves_the_database(
        bad_dir: Path, populated_project: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, size, words = BAD[name]
    json_path = _coco_for(tmp_path, name, size)
    db = populated_project / "project.db"
    before = db.read_bytes()

    code = main(["import", "coco", str(json_path), "--images", str(bad_dir), "--project", str(populated_project)])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and words in err, err
    assert "DecompressionBombError" not in err and "Traceback" not in err
    assert db.read_bytes() == before

    with Project.open(populated_project) as project, pytest.raises(DetectorAppError, match=words):
        import_coco(project.repo, json_path, bad_dir)
    assert db.read_bytes() == before


# --- training ---------------------------------------------------------------------------------------------


def test_training_refuses_a_degenerate_image_before_the_first_step(shapes_project_dir: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """An image made unusable after import (an old project, a replaced file) stops training before it starts,
    with one line naming it."""
    with Project.open(shapes_project_dir) as project:
        victim = project.repo.list_images()[0].path
    write_png(Path(victim), 1, 100000)

    code = main(["train", "--project", str(shapes_project_dir), "--parent", "scratch", "--epochs", "1",
                 "--size", "64", "--threads", "1"])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: 1 image(s) of the training set cannot be used") and "\n" not in err
    assert str(victim) in err and "too thin" in err
    with Project.open(shapes_project_dir) as project:
        assert project.repo.training_runs() == []


def test_training_loader_gives_a_training_error_not_a_crash(tmp_path: Path) -> None:
    from detector_app.training.data import load_image

    with pytest.raises(TrainingError, match="truncated"):
        load_image(write_truncated_jpeg(tmp_path / "t.jpg"))
    assert tuple(load_image(write_png(tmp_path / "ok.png", 30, 20)).shape) == (3, 20, 30)
