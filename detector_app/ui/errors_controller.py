"""Model › Errors on the holdout…: opens the error browser (ui/error_browser.py) and shows the error a person
picks there in the main window: its image, the box selected (the label it concerns, when it is on the image) and
flashed in a dashed frame, the view centred and zoomed on it.

The frame is this window's view state only; it stays until another image is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from detector_app.core.labels import counts_as_label
from detector_app.ui.actions import make_action
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.workers import BackgroundTasks

if TYPE_CHECKING:  # the browser pulls in pyqtgraph and the training package (torch): imported when first opened
    from detector_app.ui.error_browser import ErrorBrowser

XYXY = tuple[float, float, float, float]
FLASHES = 6  # visibility toggles of the frame
FLASH_MS = 160
MATCH_IOU = 0.5  # the label an error is about: the counting box of the image that overlaps it most, from this IoU
MIN_CONTEXT = 96.0  # px of image around a small box when zooming to it


def _iou(a: XYXY, b: XYXY) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def label_for(error: Any, annotations: list[Any]) -> int | None:
    """The id of the label ``error`` (a ``BoxError``) is about: for a miss, the missed label itself (same class,
    the box it was read from); for a wrong class, the label of the true class under the prediction; for a false
    positive none (nothing is there)."""
    if error.kind == "false positive":
        return None
    wanted = error.category if error.kind == "miss" else error.true_category
    best, best_iou = None, MATCH_IOU
    for ann in annotations:
        if ann.category_name != wanted or not counts_as_label(ann.status, ann.origin):
            continue
        x, y, w, h = ann.bbox
        overlap = _iou(error.box, (x, y, x + w, y + h))
        if overlap >= best_iou:
            best, best_iou = ann.id, overlap
    return best


class BoxFlash:
    """A dashed frame around one box on the canvas: flashed ``FLASHES`` times, then kept until ``clear``."""

    def __init__(self, canvas: AnnotationCanvas) -> None:
        self.canvas = canvas
        self.item: QGraphicsRectItem | None = None
        self._left = 0
        self._timer = QTimer(canvas)
        self._timer.setInterval(FLASH_MS)
        self._timer.timeout.connect(self._toggle)

    def show(self, box: XYXY) -> QGraphicsRectItem:
        self.clear()
        pen = QPen(QColor(255, 0, 200), 3, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)  # the same width at any zoom
        self.item = self.canvas.scene().addRect(QRectF(box[0], box[1], box[2] - box[0], box[3] - box[1]), pen)
        self.item.setZValue(10)  # over the boxes
        self._left = FLASHES
        self._timer.start()
        return self.item

    def _toggle(self) -> None:
        if self.item is None or self._left <= 0:
            self._timer.stop()
            if self.item is not None:
                self.item.setVisible(True)
            return
        self._left -= 1
        self.item.setVisible(not self.item.isVisible())

    def clear(self) -> None:
        self._timer.stop()
        if self.item is not None:
            self.canvas.scene().removeItem(self.item)
            self.item = None


def centre_on(canvas: AnnotationCanvas, box: XYXY) -> None:
    """Zoom so that the box and some image around it fill the view (never further out than the whole image), and
    centre the view on it."""
    image = canvas.image_rect
    view = canvas.viewport().rect()
    if image.isEmpty() or view.isEmpty():
        return
    w, h = box[2] - box[0], box[3] - box[1]
    context_w, context_h = max(3 * w, MIN_CONTEXT), max(3 * h, MIN_CONTEXT)
    fit = min(view.width() / image.width(), view.height() / image.height())
    scale = max(min(view.width() / context_w, view.height() / context_h), fit)
    canvas.zoom(scale / canvas.transform().m11())
    canvas.centerOn((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


class ErrorsController(QObject):
    """Owns ``act_errors`` and the open ``browser``; shows a picked error in the window."""

    def __init__(self, window: QWidget, projects: ProjectController, images: ImagesController,
                 canvas: AnnotationCanvas, tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.projects, self.images, self.canvas, self.tasks = window, projects, images, canvas, tasks
        self.browser: ErrorBrowser | None = None
        self.flash = BoxFlash(canvas)
        self._watched: QObject | None = None  # the ReviewController whose image changes clear the frame
        self._flashed_image: int | None = None
        self.act_errors = make_action(window, "Errors on the holdout…", self.open_browser, icon="versions",
                                      tip="A model version's confusion matrix, precision-recall curves, AP by "
                                          "object size, false positives and misses on the project's holdout")
        projects.opened.connect(self._on_project_opened)

    def open_browser(self) -> ErrorBrowser | None:
        from detector_app.ui.error_browser import ErrorBrowser  # pyqtgraph and torch: only once asked for

        project = self.projects.project
        if project is None:
            return None
        if self.browser is None or self.browser.project is not project:
            if self.browser is not None:
                self.browser.close()
            settings = getattr(self.window, "settings", None)  # the device the Model menu runs models on
            device = str(settings.value("model/device", "auto")) if settings is not None else "auto"
            self.browser = ErrorBrowser(project, self.tasks, parent=self.window, device=device)
            self.browser.error_picked.connect(self.show_error)
        self.browser.show()
        self.browser.raise_()
        return self.browser

    def _on_project_opened(self, _project: object) -> None:
        self.flash.clear()
        if self.browser is not None:
            self.browser.close()
            self.browser = None

    def show_error(self, error: Any) -> int | None:
        """Open the error's image, select the label it is about and flash the box; returns the selected label."""
        self.images.show_image(error.image_id)
        review = self.images.review
        if review is None or review.image_id != error.image_id:
            return None
        if self._watched is not review:
            review.image_shown.connect(self._on_image_shown)
            self._watched = review
        key = label_for(error, review.annotations)
        self.canvas.select(key)
        self.flash.show(error.box)
        self._flashed_image = error.image_id
        centre_on(self.canvas, error.box)
        return key

    def _on_image_shown(self, image_id: int) -> None:
        if image_id != self._flashed_image:
            self.flash.clear()
            self._flashed_image = None
