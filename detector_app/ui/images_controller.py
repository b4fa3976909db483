"""The project's images and their review: the image list and its queue, stepping through images, the
review actions on the canvas (draw, accept, reject, delete, relabel), undo and the class table."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QModelIndex, QObject
from PySide6.QtGui import QKeySequence, QUndoStack
from PySide6.QtWidgets import QComboBox, QLabel, QListView, QStackedWidget, QWidget

from detector_app.core.labels import Status
from detector_app.core.palette import class_color
from detector_app.storage.project import Project
from detector_app.ui.actions import make_action
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.dialogs import ClassPicker
from detector_app.ui.filters import Filters
from detector_app.ui.image_list import ImageListModel
from detector_app.ui.live_view import LiveController
from detector_app.ui.messages import Messages
from detector_app.ui.panels import BoxTable, ClassTable
from detector_app.ui.review_view import ReviewController, annotation_spec

QUEUES = (("unreviewed", "To review"), ("all", "All images"), ("reviewed", "Reviewed"))


class ImagesController(QObject):
    """Owns the image list model, the per-project ``review`` (ReviewController) and the undo stack."""

    def __init__(self, window: QWidget, canvas: AnnotationCanvas, stack: QStackedWidget, image_view: QListView,
                 images_stack: QStackedWidget, images_empty: QLabel, queue_combo: QComboBox, box_table: BoxTable,
                 class_table: ClassTable, filters: Filters, live: LiveController, messages: Messages) -> None:
        super().__init__(window)
        self.window, self.canvas, self.stack, self.image_view = window, canvas, stack, image_view
        self.images_stack, self.images_empty, self.queue_combo = images_stack, images_empty, queue_combo
        self.box_table, self.class_table, self.filters, self.live = box_table, class_table, filters, live
        self.messages = messages
        self.project: Project | None = None
        self.review: ReviewController | None = None
        self.image_model: ImageListModel | None = None
        self.undo_stack = QUndoStack(self)
        for key, text in QUEUES:
            queue_combo.addItem(text, key)
        queue_combo.currentIndexChanged.connect(lambda _i: self.refresh_image_list())
        image_view.clicked.connect(self._on_image_clicked)
        image_view.activated.connect(self._on_image_clicked)
        box_table.box_selected.connect(lambda key: canvas.select(key))
        canvas.selection_changed.connect(box_table.select_key)
        filters.changed.connect(self._on_filters_changed)
        self._build_actions()

    def _build_actions(self) -> None:
        w = self.window
        self.act_draw = make_action(w, "Draw box", self.toggle_draw, "D", checkable=True)
        self.act_accept = make_action(w, "Accept", self.review_accept, "A")
        self.act_accept_enter = make_action(w, "Accept (Enter)", self.review_accept, "Return")
        self.act_accept_all = make_action(w, "Accept all", self.review_accept_all, "Shift+A")
        self.act_reject = make_action(w, "Reject", self.review_reject, "R")
        self.act_delete = make_action(w, "Delete box", self.review_delete, QKeySequence.StandardKey.Delete)
        self.act_relabel = make_action(w, "Change class…", self.review_pick_class, "L")
        self.act_next = make_action(w, "Next image", partial(self.step_image, 1), "N")
        self.act_next2 = make_action(w, "Next image (→)", partial(self.step_image, 1), "Right")
        self.act_prev = make_action(w, "Previous image", partial(self.step_image, -1), "P")
        self.act_prev2 = make_action(w, "Previous image (←)", partial(self.step_image, -1), "Left")
        self.act_fit = make_action(w, "Fit", self.canvas.fit, "F")
        self.act_undo = self.undo_stack.createUndoAction(w, "Undo")
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_redo = self.undo_stack.createRedoAction(w, "Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        w.addActions([self.act_undo, self.act_redo])
        for digit in range(1, 10):
            make_action(w, f"Class {digit}", partial(self.review_class_key, digit), str(digit))
        # Disabled for a read-only project.
        self.edit_actions = (self.act_draw, self.act_accept, self.act_accept_enter, self.act_accept_all,
                             self.act_reject, self.act_delete, self.act_relabel)

    # the project's images ---------------------------------------------------------------------------------
    def set_project(self, project: Project) -> None:
        self.project = project
        self.undo_stack.clear()
        if self.review is not None:
            self.review.deleteLater()  # its canvas connections go with it
        self.review = ReviewController(self.canvas, project.repo, self.undo_stack, self.filters.threshold,
                                       self.filters.class_filter)
        self.review.changed.connect(self._on_review_changed)
        self.review.error.connect(self.messages.show_error)
        # A read-only project has no thumbnail cache on disk (its folder may not be writable).
        self.image_model = ImageListModel(self._image_ids, project.repo.get_images,
                                          None if project.read_only else project.path / ".thumbnails", self)
        self.image_view.setModel(self.image_model)
        self._show_images_or_hint()
        self.refresh_classes()
        for act in self.edit_actions:
            act.setEnabled(not project.read_only)

    def _image_ids(self) -> list[int]:
        return self.project.repo.image_ids(state=self.queue_combo.currentData() or "all",
                                           category=next(iter(self.filters.class_filter() or []), None))

    def refresh_image_list(self) -> None:
        current = self.review.image_id
        self.image_model.refresh()
        self._show_images_or_hint()
        row = self.image_model.row_of(current) if current is not None else None
        if row is not None:
            self.image_view.setCurrentIndex(self.image_model.index(row))

    def _show_images_or_hint(self) -> None:
        empty = self.image_model.rowCount() == 0
        self.images_stack.setCurrentWidget(self.images_empty if empty else self.image_view)

    def refresh_classes(self) -> None:
        repo = self.project.repo
        counts = {name: sum(n for status, n in by_status.items() if status != Status.REJECTED)
                  for name, by_status in repo.class_counts().items()}
        names = [c.name for c in repo.categories()]
        self.class_table.set_classes(names, counts, {n: class_color(n) for n in names})

    def refresh(self) -> None:
        """After images or labels were added from elsewhere (a capture, a batch, an import)."""
        self.refresh_image_list()
        self.refresh_classes()

    def _on_filters_changed(self) -> None:
        if self.review.image_id is not None:
            self.review.refresh()
        if self.queue_combo.currentData():
            self.refresh_image_list()

    # stepping through images ------------------------------------------------------------------------------
    def _on_image_clicked(self, index: QModelIndex) -> None:
        image_id = self.image_model.data(index, ImageListModel.ImageIdRole)
        if image_id is not None:
            self.show_image(int(image_id))

    def show_image(self, image_id: int) -> None:
        self.live.stop()
        self.stack.setCurrentWidget(self.canvas)
        self.review.show_image(image_id)
        row = self.image_model.row_of(image_id)
        if row is not None:
            self.image_view.setCurrentIndex(self.image_model.index(row))

    def step_image(self, step: int) -> None:
        rows = self.image_model.rowCount()
        if not rows:
            return
        current = self.image_model.row_of(self.review.image_id) if self.review.image_id is not None else None
        row = 0 if current is None else min(max(current + step, 0), rows - 1)
        self.show_image(self.image_model.image_id(row))

    def leave(self) -> None:
        """The canvas goes to something else (a live source)."""
        self.review.leave()

    # review actions ---------------------------------------------------------------------------------------
    def _on_review_changed(self) -> None:
        specs = [annotation_spec(a) for a in self.review.annotations]
        self.box_table.set_boxes(specs, self.canvas.selected_key())
        self.refresh_classes()

    def _reviewing(self) -> bool:
        return self.review.image_id is not None and not self.live.running

    def toggle_draw(self, on: bool) -> None:
        self.canvas.set_draw_mode(on and self._reviewing())
        self.act_draw.setChecked(self.canvas.draw_mode)

    def review_accept(self) -> None:
        if self._reviewing():
            self.review.accept_selected()

    def review_accept_all(self) -> None:
        if self._reviewing():
            self.review.accept_all()

    def review_reject(self) -> None:
        if self._reviewing():
            self.review.reject_selected()

    def review_delete(self) -> None:
        if self._reviewing():
            self.review.delete_selected()

    def _class_names(self) -> list[str]:
        return [c.name for c in self.project.repo.categories()]

    def review_class_key(self, digit: int) -> None:
        names = self._class_names()
        if self._reviewing() and digit <= len(names):
            self.review.relabel_selected(names[digit - 1])

    def review_pick_class(self) -> None:
        if not self._reviewing():
            return
        picker = ClassPicker(self._class_names(), parent=self.window)
        if picker.exec() and picker.chosen():
            self.review.relabel_selected(picker.chosen())
