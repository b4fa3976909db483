"""Screenshots of the real window under Xvfb: live view with overlays, review view on a COCO image, the review
loop on a captured frame with the class manager."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from .conftest import REPO_ROOT
from .test_main_window import xvfb_display  # noqa: F401 (fixture)

pytestmark = pytest.mark.gui


def test_live_and_review_screenshots(xvfb_display: str, shared_data: Path, artifacts_dir: Path) -> None:  # noqa: F811
    out = artifacts_dir / "screenshots"
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}
    run = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "xvfb_screenshots.py"), str(shared_data),
                          str(out)], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("live-view.png", "review-view.png", "review-loop.png"):
        with Image.open(out / name) as img:
            assert img.size == (1280, 800)
            assert len(img.convert("RGB").getcolors(maxcolors=2_000_000) or []) > 1000  # a real picture
