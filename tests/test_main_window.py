"""The real main window: offscreen with pytest-qt, and as a real X window under Xvfb."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, have_xvfb


def test_main_window_opens_offscreen(qtbot) -> None:
    from detector_app.ui.app import app_settings
    from detector_app.ui.main_window import MainWindow

    window = MainWindow(settings=app_settings())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.isVisible()
    assert window.windowTitle().startswith("Detector")


def _free_display() -> int:
    for n in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture
def xvfb_display():
    if not have_xvfb():
        pytest.skip("Xvfb is not installed (Debian package xvfb; `make test` installs it)")
    display = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{display}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip("Xvfb did not start")
        time.sleep(0.05)
    yield f":{display}"
    proc.terminate()
    proc.wait(timeout=10)


def test_run_command_opens_window_under_xvfb(xvfb_display: str, artifacts_dir: Path, tmp_path: Path) -> None:
    """`python main.py` as the README's run command starts it: a real xcb window, screenshotted."""
    shot = artifacts_dir / "main-window.png"
    shot.unlink(missing_ok=True)
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}
    out = subprocess.run([sys.executable, "tests/gui_screenshot.py", str(shot)],  # runs main.py gui
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert shot.is_file() and shot.stat().st_size > 5000

    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1280, 800)
        # A drawn window is not one flat colour (an empty X root would be black).
        assert len(img.convert("L").getcolors(maxcolors=1_000_000) or []) > 10
