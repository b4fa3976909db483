"""The project's images and their review: the image list and its queue, stepping through images, the
review actions on the canvas (draw, accept, reject, delete, relabel), undo and the class table."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QModelIndex, QObject
from PySide6.QtGui import QKeySequence, QUndoStack
from PySide6.QtWidgets import QComboBox, QLabel, QListView, QMainWindow, QStackedWidget, QWidget

from detector_app.core.labels import Status
from detector_app.core.palette import class_color, use_stored_colors
from detector_app.storage.project import Project
from detector_app.ui.actions import make_action
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.class_manager import ClassManagerDialog
from detector_app.ui.classes_controller import ClassesController
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
        self._no_images_text = images_empty.text()  # a project without images; a filter that hides all says so
        images_empty.linkActivated.connect(self._show_all_images)
        self.project: Project | None = None
        self.review: ReviewController | None = None
        self.classes: ClassesController | None = None
        self.class_dialog: ClassManagerDialog | None = None
        self.image_model: ImageListModel | None = None
        self.sort_ids: Callable[[str, list[int]], list[int]] | None = None  # the queue's order (queue_order.py)
        self.open_frame: Callable[[int], bool] | None = None  # shows a video task's frame (video_controller.py)
        self.undo_stack = QUndoStack(self)
        self.settings = getattr(window, "settings", None)
        self.mode_label = QLabel()  # says when drawing mode is on, and with which class
        self.progress_label = QLabel()  # "x of N reviewed"
        self.progress_label.setContentsMargins(12, 0, 4, 0)
        if isinstance(window, QMainWindow):
            window.statusBar().addWidget(self.mode_label)
            window.statusBar().addPermanentWidget(self.progress_label)
        canvas.draw_mode_changed.connect(self._on_draw_mode)
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
        self.act_manage_classes = make_action(w, "Manage classes…", self.open_class_manager, "Ctrl+Shift+C")
        self.act_advance = make_action(w, "Advance after accept/reject", self._set_advance, checkable=True,
                                       tip="Accept/Reject moves to the next box to review, then the next image")
        advance = self.settings.value("review/advance", True, type=bool) if self.settings is not None else True
        self.act_advance.setChecked(advance)
        self.act_cycle = make_action(w, "Next overlapping box", partial(self.cycle_box, 1), "Tab")
        self.act_cycle_back = make_action(w, "Previous overlapping box", partial(self.cycle_box, -1), "Shift+Tab")
        self.act_hide = make_action(w, "Hide box", self.review_hide, "H", tip="Hide the selected box (view only)")
        self.act_show_hidden = make_action(w, "Show hidden boxes", self.review_show_hidden, "Shift+H")
        self.act_lock = make_action(w, "Lock / unlock box", self.review_lock, "Ctrl+L",
                                    tip="A locked box cannot be moved or resized (view only)")
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
        self.review.image_done.connect(self._on_image_done)
        self.review.image_shown.connect(self._select_in_list)  # also an undo that goes back to another image
        self.review.advance = self.act_advance.isChecked()
        self.classes = ClassesController(project.repo, self.undo_stack, self.window)
        self.classes.changed.connect(self._on_classes_changed)
        self.classes.error.connect(self.messages.show_error)
        self.review.ask_class = self._ask_first_class
        if self.class_dialog is not None:
            self.class_dialog.close()
            self.class_dialog = None
        # A read-only project has no thumbnail cache on disk (its folder may not be writable).
        self.image_model = ImageListModel(self._image_ids, project.repo.get_images,
                                          None if project.read_only else project.path / ".thumbnails", self,
                                          fetch_box_counts=project.repo.box_counts)
        self.image_view.setModel(self.image_model)
        self._show_images_or_hint()
        self.refresh_classes()
        for act in (*self.edit_actions, self.act_manage_classes):
            act.setEnabled(not project.read_only)
        self._show_progress()

    def _image_ids(self) -> list[int]:
        state = self.queue_combo.currentData() or "all"
        ids = self.project.repo.image_ids(state=state, category=next(iter(self.filters.class_filter() or []), None))
        return self.sort_ids(state, ids) if self.sort_ids is not None else ids

    def refresh_image_list(self) -> None:
        current = self.review.image_id
        self.image_model.refresh()
        self._show_images_or_hint()
        row = self.image_model.row_of(current) if current is not None else None
        if row is not None:
            self.image_view.setCurrentIndex(self.image_model.index(row))

    def _show_images_or_hint(self) -> None:
        empty = self.image_model.rowCount() == 0
        total = self.project.repo.count_images("all") if empty else 0
        if empty:  # 38 imported (reviewed) images under "To review" are hidden by the list, not missing
            where = f"“{self.queue_combo.currentText()}”"
            where += " for this class" if self.filters.class_filter() else ""
            self.images_empty.setText(self._no_images_text if total == 0 else (
                f"No images in {where}: the project has {total}.<br><br><a href='all'>Show all images</a>"))
        self.images_stack.setCurrentWidget(self.images_empty if empty else self.image_view)

    def _show_all_images(self, _link: str) -> None:
        self.class_table.clearSelection()
        self.queue_combo.setCurrentIndex(self.queue_combo.findData("all"))

    def refresh_classes(self) -> None:
        repo = self.project.repo
        counts = {name: sum(n for status, n in by_status.items() if status != Status.REJECTED)
                  for name, by_status in repo.class_counts().items()}
        categories = repo.categories()
        use_stored_colors({c.name: c.color for c in categories})  # a recoloured class is drawn so everywhere
        names = [c.name for c in categories]
        self.class_table.set_classes(names, counts, {n: class_color(n) for n in names})

    def refresh(self) -> None:
        """After images or labels were added from elsewhere (a capture, a batch, an import)."""
        self.refresh_image_list()
        self.refresh_classes()
        self._show_progress()

    def _show_progress(self) -> None:
        repo = self.project.repo
        self.progress_label.setText(f"{repo.count_images('reviewed')} of {repo.count_images('all')} reviewed")

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
        if self.open_frame is not None and self.open_frame(image_id):  # a video task's frame: shown as video
            return
        self.live.stop()
        self.stack.setCurrentWidget(self.canvas)
        self.review.show_image(image_id)

    def _select_in_list(self, image_id: int) -> None:
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
        specs = [annotation_spec(a) for a in self.review.class_annotations()]  # the class filter applies here too
        self.box_table.set_boxes(specs, self.canvas.selected_key())
        self.refresh_classes()
        if self.review.image_id is not None:
            self.image_model.refresh_marks(self.review.image_id)
        self._show_progress()

    def _on_classes_changed(self) -> None:
        self.refresh_classes()
        if self.review.image_id is not None and not self.live.running:
            self.review.refresh()

    def _on_image_done(self) -> None:
        """Every box on the image is decided: on to the next image of the queue (the setting allows it)."""
        row = self.image_model.row_of(self.review.image_id)
        if row is not None and row + 1 < self.image_model.rowCount():
            self.step_image(1)
            self.review.select_pending()  # A / R work at once on the new image's first box
        elif row is None and self.image_model.rowCount():  # shown from elsewhere: the list's first image
            self.show_image(self.image_model.image_id(0))
            self.review.select_pending()
        else:
            self.messages.show_info("Every box here is decided: this was the last image of the list",
                                    timeout_ms=5000)

    def _set_advance(self, on: bool) -> None:
        if self.review is not None:
            self.review.advance = on
        if self.settings is not None:
            self.settings.setValue("review/advance", bool(on))

    def _reviewing(self) -> bool:
        return self.review.image_id is not None and not self.live.running

    def toggle_draw(self, on: bool) -> None:
        self.canvas.set_draw_mode(on and self._reviewing())
        self._on_draw_mode(self.canvas.draw_mode)

    def _on_draw_mode(self, on: bool) -> None:
        """Drawing mode shows itself three ways: the checked action, the cross cursor and this status text."""
        self.act_draw.setChecked(on)
        names = self._class_names() if self.project is not None else []
        current = self.review.draw_class if self.review and self.review.draw_class in names else None
        what = current or (names[0] if names else "a new class (you will be asked its name)")
        self.mode_label.setText(f"Drawing boxes of {what}: drag on the image, D to stop" if on else "")

    def _ask_first_class(self) -> str | None:
        """Drawing before any class exists: the user names the first class (an undoable edit)."""
        created = self.classes.add()
        return created.name if created is not None else None

    def open_class_manager(self) -> ClassManagerDialog | None:
        if self.classes is None:
            return None
        if self.class_dialog is None:
            self.class_dialog = ClassManagerDialog(self.classes, self.window)
        self.class_dialog.show()
        self.class_dialog.raise_()
        return self.class_dialog

    def cycle_box(self, step: int) -> None:
        if self._reviewing():
            self.canvas.cycle_selection(step)

    def review_hide(self) -> None:
        if self._reviewing():
            self.review.toggle_hidden()

    def review_show_hidden(self) -> None:
        if self._reviewing():
            self.review.show_hidden()

    def review_lock(self) -> None:
        if self._reviewing():
            self.review.toggle_locked()

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
            self._on_draw_mode(self.canvas.draw_mode)

    def review_pick_class(self) -> None:
        if not self._reviewing():
            return
        picker = ClassPicker(self._class_names(), parent=self.window)
        if picker.exec() and picker.chosen():
            chosen = picker.chosen()
            if chosen not in self._class_names() and self.classes.add(chosen) is None:
                return  # a typed new class is an undoable class edit of its own; refused: nothing changes
            self.review.relabel_selected(chosen)
