"""``detector-app detect``: real runs on the shared video, COCO results, Ctrl-C, and one-line errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from detector_app.cli.main import main

from .helpers_detection import COCO_IMAGES

# Random weights (no pretrained file exists here) with a threshold below their ~0.01 scores, so that
# every frame has boxes to write, draw and load.
RANDOM = ("--weights", "none", "--threshold", "0.005", "--max-detections", "20")


def run_cli(*args: str | Path, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector_app", "detect", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def load_results(out: Path) -> tuple[COCO, COCO]:
    """pycocotools reads the results against the image list written beside them."""
    coco = COCO(str(out.with_name(f"{out.stem}.images.json")))
    return coco, coco.loadRes(str(out))


def check_video(path: Path, frames: int, size: tuple[int, int]) -> None:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    n = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        assert image.shape[:2] == size
        n += 1
    assert n == frames


def test_detect_video_writes_coco_results_and_annotated_video(shared_data: Path, tmp_path: Path) -> None:
    """Must-show 6, quick form: every 40th frame of vtest.avi at 160 px."""
    out, video = tmp_path / "r.json", tmp_path / "a.mp4"
    result = run_cli(shared_data / "video" / "vtest.avi", "--out", out, "--save-video", video, "--size", "160",
                     "--every", "40", *RANDOM)

    assert result.returncode == 0, result.stderr
    assert "20/20" in result.stderr and "frame/s" in result.stderr  # tqdm's bar with rate and ETA
    coco, dets = load_results(out)
    assert sorted(coco.getImgIds()) == list(range(1, 21))
    assert [coco.imgs[i]["frame_index"] for i in range(1, 21)] == list(range(0, 800, 40))
    assert coco.imgs[1]["file_name"] == str(shared_data / "video" / "vtest.avi")
    assert len(dets.getAnnIds()) == 20 * 20 and set(dets.getImgIds()) == set(range(1, 21))
    ann = dets.anns[1]
    assert len(ann["bbox"]) == 4 and 0 < ann["score"] <= 1 and ann["category_id"] in coco.cats
    check_video(video, 20, (576, 768))
    assert f"results: {out}" in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_detect_full_video_at_default_size(shared_data: Path, tmp_path: Path) -> None:
    """Must-show 6 as written: all 795 frames of vtest.avi at the default 512 px."""
    out, video = tmp_path / "r.json", tmp_path / "a.mp4"
    result = run_cli(shared_data / "video" / "vtest.avi", "--out", out, "--save-video", video, *RANDOM,
                     timeout=3600)
    assert result.returncode == 0, result.stderr
    assert "795/795" in result.stderr
    coco, dets = load_results(out)
    assert len(coco.getImgIds()) == 795 and set(dets.getImgIds()) == set(coco.getImgIds())
    check_video(video, 795, (576, 768))


def test_detect_image_folder_reports_bad_files(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in COCO_IMAGES[:2]:
        (folder / name).symlink_to(shared_data / "coco-tiny" / "images" / name)
    (folder / "broken.jpg").write_text("not a jpeg")
    out = tmp_path / "r.json"
    result = run_cli(folder, "--out", out, "--size", "128", "--model", "retinanet_light", *RANDOM)
    assert result.returncode == 0, result.stderr
    coco, dets = load_results(out)
    assert [Path(coco.imgs[i]["file_name"]).name for i in (1, 2)] == list(COCO_IMAGES[:2])
    height, width = cv2.imread(str(folder / COCO_IMAGES[0])).shape[:2]
    assert (coco.imgs[1]["width"], coco.imgs[1]["height"]) == (width, height)
    assert re.search(r"skipped .*broken\.jpg: not an image", result.stdout)


def test_offline_without_weights_exits_with_the_clear_message(shared_data: Path, tmp_path: Path) -> None:
    """Must-show 7: the default preset, no cached file, no network (an unreachable proxy stands in for
    being offline, so the test never downloads anything even on a machine with internet)."""
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "empty-torch-home"), "DETECTOR_APP_HOME": str(tmp_path),
           "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
    env.pop("DETECTOR_APP_OFFLINE", None)
    start = time.monotonic()
    result = run_cli(shared_data / "video" / "vtest.avi", env=env, timeout=120)

    assert result.returncode == 2
    assert time.monotonic() - start < 60
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    message = errors[0]
    assert "pretrained weights for retinanet_r50_fpn are not available" in message
    assert "retinanet_resnet50_fpn_coco-eeacb38b.pth" in message and "130.3 MB" in message
    assert str(tmp_path / "data" / "models") in message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.mp4", "no such file or folder"),
        (lambda d: _write(d / "fake.mp4", "text, not video"), "cannot read .*fake.mp4"),
        (lambda d: _write(d / "notes.xyz", "unsupported"), "cannot read .*notes.xyz"),
        (lambda d: _write(d / "photo.jpg", ""), "cannot read image .*photo.jpg: empty file"),
        (lambda d: "webcam:7", "webcam 7"),
    ],
    ids=["missing", "corrupt-video", "unsupported", "empty-image", "no-webcam"],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], make, expected: str) -> None:
    if expected == "webcam 7" and Path("/dev/video7").exists():
        pytest.skip("this machine has a /dev/video7")
    rc = main(["detect", str(make(tmp_path)), "--model", "retinanet_light", "--weights", "none"])
    err = capsys.readouterr().err
    assert rc == 2
    assert re.fullmatch(rf"error: .*{expected}.*\n", err), err


def test_bad_options_are_one_clear_line(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = str(shared_data / "video" / "vtest.avi")
    light = ["--model", "retinanet_light", "--weights", "none", "--size", "64", "--max-frames", "1"]
    assert main(["detect", video, *light, "--classes", "person,unicorn"]) == 2
    assert re.fullmatch(r"error: unknown class name\(s\) unicorn; this model knows: person, bicycle, .*\n",
                        capsys.readouterr().err)
    assert main(["detect", video, *light, "--every", "0"]) == 2
    assert "error: --every must be at least 1" in capsys.readouterr().err
    assert main(["detect", video, "--model", str(tmp_path / "nope.pth")]) == 2
    assert "error: weight file not found" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_and_keeps_the_results(shared_data: Path, tmp_path: Path) -> None:
    out, log = tmp_path / "r.json", tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "detector_app", "detect", str(shared_data / "video" / "vtest.avi"), "--out",
           str(out), "--size", "128", "--model", "retinanet_light", *RANDOM]
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            done = [int(n) for n in re.findall(r"(\d+)/795", log.read_text())]
            if done and max(done) >= 3:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=60)

    assert proc.returncode == 130, log.read_text()
    assert "interrupted after" in stdout and "Traceback" not in log.read_text()
    coco, dets = load_results(out)
    n = len(coco.getImgIds())
    assert 3 <= n < 795 and set(dets.getImgIds()) == set(range(1, n + 1))
    assert json.loads(out.read_text())[0]["image_id"] == 1


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_detect_int8_calibrates_on_the_first_frames_then_runs_int8(shared_data: Path, tmp_path: Path) -> None:
    from detector_app.detection.int8 import int8_unavailable_reason
    from detector_app.paths import app_paths

    if int8_unavailable_reason() is not None:
        pytest.skip(int8_unavailable_reason())
    out = tmp_path / "r.json"
    rc = main(["detect", str(shared_data / "video" / "vtest.avi"), "--out", str(out), "--model", "retinanet_light",
               "--size", "160", "--every", "40", "--int8", *RANDOM])
    assert rc == 0
    coco, dets = load_results(out)
    assert len(coco.getImgIds()) == 20 and len(dets.getAnnIds()) == 20 * 20
    # Calibration finished after 8 frames; the quantized model is kept for the next run.
    assert len(list((app_paths().cache / "int8").glob("*.xml"))) == 1


class _DroppingCamera:
    """A live source that delivers a few frames, then loses its connection (as a stream or camera can)."""

    kind, is_live, frame_count, fps, description, skipped = "webcam", True, None, 10.0, "webcam 0", []

    def __init__(self, frames: int) -> None:
        self.left, self.index = frames, 0

    def read(self):
        from detector_app.errors import SourceError
        from detector_app.sources import Frame

        if self.left == 0:
            raise SourceError("the camera went away")
        self.left, self.index = self.left - 1, self.index + 1
        return Frame(np.full((96, 128, 3), 80, np.uint8), self.index - 1, 0.0, "webcam:0", "webcam")

    def close(self) -> None:
        pass


def test_detect_live_source_lost_midway_exits_non_zero_and_keeps_results(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from detector_app.cli import detect_run

    monkeypatch.setattr(detect_run, "open_any_source", lambda spec: _DroppingCamera(3))
    out = tmp_path / "r.json"
    rc = main(["detect", "0", "--out", str(out), "--model", "retinanet_light", "--size", "96", *RANDOM])
    err = capsys.readouterr().err
    assert rc == 2
    # Latest-frame-wins may skip some of the 3 frames, never the last one.
    assert re.fullmatch(r"error: webcam 0 stopped after [123] frame\(s\): the camera went away",
                        err.strip().splitlines()[-1])
    assert len(json.loads(out.read_text())) > 0  # the results before the loss are kept
