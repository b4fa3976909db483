"""Frame sources: real videos and COCO photos, damaged files, EXIF, natural order, seeking, webcams."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from detector_app.errors import SourceError
from detector_app.sources import Frame, open_source
from detector_app.sources.images import ImageFolderSource, SingleImageSource, decode_image, natural_key
from detector_app.sources.prefetch import read_ahead
from detector_app.sources.video import VideoSource
from detector_app.sources.webcam import WebcamSource

from .helpers_detection import write_video

VIDEO_NAMES = ("vtest.avi", "car-detection.mp4", "one-by-one-person-detection.mp4")


def _jpeg_bytes(width: int = 64, height: int = 48) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (0, 0, 255)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


# --- real data -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIDEO_NAMES)
def test_reads_every_frame_of_the_shared_videos(shared_data: Path, name: str) -> None:
    path = shared_data / "video" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with open_source(path) as source:
        assert isinstance(source, VideoSource) and source.fps and source.frame_count
        count, fps = source.frame_count, source.fps
        first_shape = None
        n = 0
        for n, frame in enumerate(source, start=1):
            assert frame.index == n - 1 and frame.kind == "video" and frame.video_path == str(path)
            assert frame.image.dtype == np.uint8 and frame.image.ndim == 3 and frame.image.shape[2] == 3
            first_shape = first_shape or frame.image.shape
            assert frame.image.shape == first_shape
        assert abs(frame.timestamp - (n - 1) / fps) < 1e-6
    assert n == count, f"{name}: read {n} frames, container says {count}"


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


# --- image folders ---------------------------------------------------------------------------------------


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


# --- videos ----------------------------------------------------------------------------------------------


def test_video_seek_and_timestamps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=20, fps=5.0)
    with VideoSource(path) as source:
        assert source.frame_count == 20 and source.fps == pytest.approx(5.0)
        sequential = [f.image for f in source]
        source.seek(12)
        frame = source.read()
        assert frame is not None and frame.index == 12 and frame.timestamp == pytest.approx(12 / 5.0)
        assert np.abs(frame.image.astype(int) - sequential[12].astype(int)).max() <= 2
        with pytest.raises(SourceError):
            source.seek(20)


def test_truncated_video_stops_cleanly_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_video(tmp_path / "full.avi", frames=30)
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING), VideoSource(cut) as source:
        frames = list(source)
    assert 0 < len(frames) < 30
    assert any("truncated or corrupt" in r.message for r in caplog.records)


@pytest.mark.parametrize("content", [b"", b"plain text, not a video\n" * 10])
def test_unreadable_video_or_unknown_type_is_a_source_error(tmp_path: Path, content: bytes) -> None:
    for name in ("broken.mp4", "data.xyz"):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(SourceError, match="cannot read"):
            open_source(path)


def test_missing_path_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(tmp_path / "missing.mp4")


# --- webcams ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [7, "webcam:7", "7"])
def test_missing_webcam_fails_fast_with_a_clear_message(spec: object) -> None:
    if Path("/dev/video7").exists():
        pytest.skip("this machine has a /dev/video7")
    start = time.monotonic()
    with pytest.raises(SourceError, match="webcam 7"):
        open_source(spec)  # type: ignore[arg-type]
    assert time.monotonic() - start < 2.0


def test_webcam_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    class Hanging:
        def __init__(self, *args: object) -> None:
            release.wait(10)

        def isOpened(self) -> bool:
            return False

        def release(self) -> None:
            pass

    monkeypatch.setattr("detector_app.sources.webcam._check_device_node", lambda index: None)
    monkeypatch.setattr("detector_app.sources.webcam.cv2.VideoCapture", Hanging)
    start = time.monotonic()
    with pytest.raises(SourceError, match="did not respond within 1 s"):
        WebcamSource(0, timeout_s=1.0)
    assert time.monotonic() - start < 3.0
    release.set()


# --- read-ahead ------------------------------------------------------------------------------------------


def _frames(n: int, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise SourceError("device lost")
        yield Frame(np.zeros((2, 2, 3), np.uint8), i, 0.0, "test", "video")


def test_read_ahead_keeps_order_and_passes_errors_on() -> None:
    assert [f.index for f in read_ahead(_frames(25), depth=3)] == list(range(25))
    got = []
    with pytest.raises(SourceError, match="device lost"):
        for frame in read_ahead(_frames(10, fail_at=6)):
            got.append(frame.index)
    assert got == list(range(6))


def test_read_ahead_stops_its_thread_when_closed() -> None:
    frames = read_ahead(_frames(10_000), depth=2)
    next(frames)
    frames.close()
    time.sleep(0.3)
    assert not any(t.name == "frame-reader" and t.is_alive() for t in threading.enumerate())
