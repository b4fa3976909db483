"""Still-image sources (sources/images.py): COCO photos, damaged files, EXIF, natural order, seeking."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from detector_app.errors import SourceError
from detector_app.sources import open_source
from detector_app.sources.images import ImageFolderSource, SingleImageSource, decode_image, natural_key


def _jpeg_bytes(width: int = 64, height: int = 48) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (0, 0, 255)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def test_reads_all_coco_tiny_images_at_their_annotated_size(shared_data: Path) -> None:
    folder = shared_data / "coco-tiny" / "images"
    sizes = {im["file_name"]: (im["height"], im["width"])
             for im in json.loads((shared_data / "coco-tiny" / "instances.json").read_text())["images"]}
    with open_source(folder) as source:
        frames = list(source)
    assert len(frames) == len(sizes) == source.frame_count and source.skipped == []
    for frame in frames:
        assert frame.kind == "image" and frame.image.dtype == np.uint8
        assert frame.image.shape[:2] == sizes[Path(frame.origin).name]
    # Real decoding: same pixels as OpenCV's own decoder (both use libjpeg; allow a rounding step).
    first = frames[0]
    diff = np.abs(first.image.astype(int) - cv2.imread(first.origin).astype(int))
    assert diff.mean() < 1.0


def test_folder_with_damaged_files_reports_them_and_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = _jpeg_bytes()
    (tmp_path / "a_good.jpg").write_bytes(good)
    (tmp_path / "b_corrupt.jpg").write_bytes(good[: len(good) // 2])  # truncated mid-scan
    (tmp_path / "c_empty.jpg").write_bytes(b"")
    (tmp_path / "d_text.jpg").write_text("not an image at all\n")
    (tmp_path / "e_garbled.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    cv2.imwrite(str(tmp_path / "f_good.png"), np.full((10, 12, 3), 200, np.uint8))

    with caplog.at_level(logging.WARNING), open_source(tmp_path) as source:
        frames = list(source)

    assert [Path(f.origin).name for f in frames] == ["a_good.jpg", "f_good.png"]
    assert [f.index for f in frames] == [0, 5]
    reasons = {Path(p).name: r for p, r in source.skipped}
    assert set(reasons) == {"b_corrupt.jpg", "c_empty.jpg", "d_text.jpg", "e_garbled.png"}
    assert reasons["c_empty.jpg"] == "empty file (0 bytes)"
    assert "truncated" in reasons["b_corrupt.jpg"].lower()
    assert "not an image" in reasons["d_text.jpg"]
    assert sum("skipped" in r.message for r in caplog.records) == 4


def test_folder_is_recursive_and_naturally_sorted(tmp_path: Path) -> None:
    for rel in ("img10.png", "img2.png", "img1.PNG", "sub/img3.bmp", "sub/deeper/x.webp", "Z.tiff", "y.jpeg"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), np.full((8, 8, 3), 90, np.uint8)), rel
    source = ImageFolderSource(tmp_path)
    names = [Path(f.origin).relative_to(tmp_path).as_posix() for f in source]
    assert names == ["img1.PNG", "img2.png", "img10.png", "sub/deeper/x.webp", "sub/img3.bmp", "y.jpeg", "Z.tiff"]
    assert natural_key("frame9") < natural_key("frame10")


def test_lossless_formats_decode_to_the_written_pixels(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for suffix in (".png", ".bmp", ".tif"):
        path = tmp_path / f"p{suffix}"
        assert cv2.imwrite(str(path), pixels)
        np.testing.assert_array_equal(decode_image(path), pixels)
    wide = tmp_path / "sixteen.png"
    cv2.imwrite(str(wide), (pixels.astype(np.uint16) * 257))
    np.testing.assert_array_equal(decode_image(wide), pixels)  # scaled to 8 bits, not clipped


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high; red block at the stored top-left
    stored[:5, :5] = (255, 0, 0)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=100)

    bgr = decode_image(path)

    assert bgr.shape == (40, 20, 3)
    assert bgr[2, 17, 2] > 200 and bgr[2, 2, 2] < 50  # red (BGR index 2) now at the top-right


def test_empty_folder_and_single_images(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images"):
        open_source(tmp_path)
    path = tmp_path / "one.jpg"
    path.write_bytes(_jpeg_bytes())
    source = open_source(path)
    assert isinstance(source, SingleImageSource) and source.frame_count == 1
    frames = list(source)
    assert len(frames) == 1 and frames[0].image.shape == (48, 64, 3) and source.read() is None
    source.seek(0)
    assert source.read() is not None
    bad = tmp_path / "bad.jpg"
    bad.write_text("text")
    with pytest.raises(SourceError, match=r"cannot read image .*bad\.jpg: not an image"):
        open_source(bad)


def test_folder_seek(tmp_path: Path) -> None:
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((4, 4, 3), i * 50, np.uint8))
    with ImageFolderSource(tmp_path) as source:
        source.seek(2)
        frame = source.read()
        assert frame is not None and frame.index == 2 and frame.image[0, 0, 0] == 100
        with pytest.raises(SourceError, match="cannot seek"):
            source.seek(4)
