"""Run under Xvfb by tests/test_screenshots.py: drives the real app window and saves screenshots.

usage: python tests/xvfb_screenshots.py SHARED_DATA OUT_DIR
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.weights import load_model
from detector_app.storage.project import Project
from detector_app.transfer.importing import import_coco
from detector_app.ui.app import ensure_application
from detector_app.ui.main_window import MainWindow
from detector_app.ui.theme import apply_theme


def spin(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        spin(0.1)


def shoot(window: MainWindow, path: Path) -> None:
    spin(0.5)
    pixmap = window.screen().grabWindow(0)
    assert pixmap.save(str(path), "PNG"), path


def random_detector() -> Detector:
    """Random R50 weights with the classification prior removed, so boxes reach a visible score."""
    loaded = load_model("retinanet_r50_fpn", weights="none", seed=3)
    loaded.model.head.classification_head.cls_logits.bias.data.fill_(-1.0)
    return Detector(loaded, DetectorConfig(size=512, score_threshold=0.3, max_detections=12))


def main(shared: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    app = ensure_application()
    apply_theme(app)
    work = Path(tempfile.mkdtemp())
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("model/weights", "none")
    settings.setValue("model/preset", "retinanet_light")
    with Project.open(work / "project") as project:
        import_coco(project.repo, shared / "coco-tiny" / "instances.json", shared / "coco-tiny" / "images")
    window = MainWindow(settings, project_path=work / "project")
    window.resize(1280, 800)
    window.show()
    wait_for(lambda: window.detector is not None or window.banner.isVisible())
    window.set_detector(random_detector())
    window.threshold_slider.setValue(30)

    window.start_source(str(shared / "video" / "vtest.avi"))
    wait_for(lambda: window.live.result is not None and window.live.result.frame.index > 5)
    shoot(window, out / "live-view.png")
    window.stop_source()

    window.queue_combo.setCurrentIndex(1)  # all images
    window.show_image(window.image_model.image_id(0))
    window.canvas.select(window.review.annotations[0].id)
    window.box_table.select_key(window.review.annotations[0].id)
    shoot(window, out / "review-view.png")
    window.close()
    QApplication.processEvents()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
