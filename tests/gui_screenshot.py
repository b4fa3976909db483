"""Run ``python main.py gui [ARGS...]`` as a user would, grab the screen once the window is up, then quit.

usage: python tests/gui_screenshot.py OUT.png [ARGS...]

Under Xvfb the grab is the real window as X draws it. Test code: the app itself has no screenshot option.
"""

from __future__ import annotations

import logging
import runpy
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

from detector_app.ui.app import ensure_application

REPO_ROOT = Path(__file__).resolve().parent.parent
DELAY_MS = 1500  # long enough for the first paint and the model to start loading
log = logging.getLogger(__name__)


def screenshot_and_quit(path: Path) -> None:
    """Grab the whole screen, then close the main window and quit."""
    app = QApplication.instance()
    windows = [w for w in app.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]
    screen = (windows[0].screen() if windows else None) or app.primaryScreen()
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = screen.grabWindow(0).save(str(path), "PNG")
    log.info("screenshot %s saved=%s", path, ok)
    for window in windows:
        window.close()
    app.quit()


def main() -> None:
    out = Path(sys.argv[1])
    sys.argv = [str(REPO_ROOT / "main.py"), "gui", *sys.argv[2:]]
    ensure_application()  # the app's own setup; run_app reuses this instance
    # Armed once the event loop runs (the window is shown by then), as importing the app takes seconds.
    QTimer.singleShot(0, lambda: QTimer.singleShot(DELAY_MS, lambda: screenshot_and_quit(out)))
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
