"""Run under Xvfb by tests/test_screenshots.py: drives the real app window and saves screenshots (live view,
review view, and the review loop with the class manager).

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
    head = loaded.model.head.classification_head
    head.cls_logits.bias.data.fill_(-1.0)
    # torchvision's COCO list keeps "N/A" for unused ids; trained weights never pick them, random ones do
    unused = [i for i, name in enumerate(loaded.class_names) if name == "N/A"]
    head.cls_logits.bias.data.view(-1, head.num_classes)[:, unused] = -20.0
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
    window.queue_combo.setCurrentIndex(1)  # all images

    window.start_source(str(shared / "video" / "vtest.avi"))
    wait_for(lambda: window.live.result is not None and window.live.result.frame.index > 5)
    shoot(window, out / "live-view.png")
    window.act_capture.trigger()  # the frame and its boxes go into the project, to review
    window.stop_source()

    window.banner.hide()  # "Captured frame …" is not what this picture is about
    window.show_image(window.image_model.image_id(0))
    window.canvas.select(window.review.annotations[0].id)
    window.box_table.select_key(window.review.annotations[0].id)
    shoot(window, out / "review-view.png")

    # The review loop on the captured frame: accept the first prediction (the loop moves on to the next),
    # reviewed/empty marks in the list, the "x of N reviewed" counter and the class manager beside it.
    window.queue_combo.setCurrentIndex(0)  # to review: the captured frame
    wait_for(lambda: window.image_model.rowCount() > 0, timeout=10)
    window.show_image(window.image_model.image_id(0))
    window.queue_combo.setCurrentIndex(1)  # all images, so the list shows the marks
    window.canvas.select(window.review.annotations[0].id)
    window.act_accept.trigger()
    dialog = window.images.open_class_manager()
    window.banner.hide()
    canvas = window.canvas.mapToGlobal(window.canvas.rect().bottomLeft())  # over the grass, not the boxes
    dialog.move(canvas.x() + 8, canvas.y() - dialog.height() - 8)
    shoot(window, out / "review-loop.png")
    dialog.close()
    window.close()
    QApplication.processEvents()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
