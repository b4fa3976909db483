"""Review mode: one project image on the canvas, editable boxes, every change saved and undoable."""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from detector_app.core.labels import Status
from detector_app.core.palette import class_color
from detector_app.errors import DetectorAppError
from detector_app.review import Edit, Reviewer
from detector_app.review.review_clock import ReviewClock, ReviewTiming, proposals_version
from detector_app.storage.records import AnnotationRecord
from detector_app.storage.repository import Repository
from detector_app.ui.box_item import BoxSpec
from detector_app.ui.canvas import AnnotationCanvas

log = logging.getLogger(__name__)

_ACTIVITY = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.KeyPress)


def annotation_spec(ann: AnnotationRecord, locked: bool = False) -> BoxSpec:
    return BoxSpec(ann.id, tuple(ann.bbox), ann.category_name, ann.score, ann.status, class_color(ann.category_name),
                   locked)


class EditCommand(QUndoCommand):
    """An edit already applied to the database; undo/redo write its snapshots back."""

    def __init__(self, review: ReviewController, edit: Edit) -> None:
        super().__init__(edit.text)
        self.review, self.edit, self._applied = review, edit, True

    def redo(self) -> None:
        if self._applied:  # pushed right after the change was made
            self._applied = False
            return
        self._write_back(self.review.reviewer.redo)

    def undo(self) -> None:
        self._write_back(self.review.reviewer.undo)

    def _write_back(self, apply: Callable[[Edit], Edit]) -> None:
        """Undo or redo; one refused (someone else changed the box since: StaleEditError) says why, drops this
        step from the stack (it cannot be applied any more) and shows the boxes as they are now."""
        try:
            self.edit = apply(self.edit)
        except DetectorAppError as exc:
            self.setObsolete(True)
            self.review.error.emit(str(exc))
        self.review.show_image(self.edit.image_id)


class ReviewController(QObject):
    """Connects the canvas to the repository. ``changed`` fires after every stored change.

    Hidden and locked boxes are view state of this window only (never stored): hiding declutters a crowded
    image and locking protects a finished box from a stray drag; both end with the project.
    """

    changed = Signal()
    image_shown = Signal(int)
    error = Signal(str)
    image_done = Signal()  # accept/reject left no box to review on this image

    def __init__(self, canvas: AnnotationCanvas, repo: Repository, undo_stack: QUndoStack,
                 threshold: Callable[[], float], class_filter: Callable[[], set[str] | None]) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.repo = repo
        self.reviewer = Reviewer(repo)
        self.undo_stack = undo_stack
        self.threshold = threshold
        self.class_filter = class_filter
        self.image_id: int | None = None
        self.draw_class: str | None = None  # the class last used: new boxes take it
        self.ask_class: Callable[[], str | None] = lambda: None  # names a first class when there is none
        self.advance = True  # accept/reject selects the next box to review, then reports image_done
        self.hidden: set[int] = set()
        self.locked: set[int] = set()
        self.annotations: list[AnnotationRecord] = []
        # Review time per image (review_clock.py); annotator: who reviews, None until identities exist.
        self.clock = ReviewClock()
        self.annotator: str | None = None
        self._reviewed = False  # whether the image on screen was reviewed at the last refresh
        canvas.installEventFilter(self)
        canvas.viewport().installEventFilter(self)
        canvas.box_edited.connect(self._on_box_edited)
        canvas.box_drawn.connect(self._on_box_drawn)

    # showing --------------------------------------------------------------------------------------------
    def show_image(self, image_id: int) -> None:
        record = self.repo.get_image(image_id)
        if image_id != self.image_id:
            image = cv2.imread(str(record.path), cv2.IMREAD_COLOR)
            if image is None:
                self.error.emit(f"cannot read image {record.path}; its labels are kept")
                self.canvas.clear_image()
            else:
                self.canvas.set_image(image, fit=True)
            self.image_id, self._reviewed = image_id, record.reviewed
            self.refresh()
            self.clock.show(image_id, proposals_version(self.annotations))
        else:
            self.refresh()
        self.image_shown.emit(image_id)

    def refresh(self) -> None:
        """Reload this image's boxes from the database and apply the threshold and class filter."""
        if self.image_id is None:
            return
        self.annotations = self.repo.annotations_for_image(self.image_id)
        self.canvas.set_boxes([annotation_spec(a, a.id in self.locked) for a in self.visible_annotations()],
                              editable=True)
        self._time_review()
        self.changed.emit()

    def _time_review(self) -> None:
        """The image on screen turned reviewed: store the time its review took (open to done)."""
        reviewed = self.repo.get_image(self.image_id).reviewed
        timing = self.clock.done(proposals_version(self.annotations)) if reviewed and not self._reviewed else None
        self._reviewed = reviewed
        if timing is not None:
            self._store_time(timing)

    def _store_time(self, t: ReviewTiming) -> None:
        try:
            self.repo.add_review_time(t.image_id, t.model_version_id, t.seconds, t.started_at, t.finished_at,
                                      annotator=self.annotator)
        except DetectorAppError as exc:
            self.error.emit(f"the review time was not saved: {exc}")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """A mouse or key event on the canvas is activity: the review clock does not count it as idle."""
        if event.type() in _ACTIVITY and self.image_id is not None:
            self.clock.activity()
        return False

    def visible_annotations(self) -> list[AnnotationRecord]:
        """Rejected, hidden and filtered-out boxes and predictions below the threshold are not drawn."""
        return [a for a in self.class_annotations()
                if a.status != Status.REJECTED and a.id not in self.hidden
                and (a.status != Status.PREDICTED or a.score is None or a.score >= self.threshold())]

    def class_annotations(self) -> list[AnnotationRecord]:
        """This image's boxes of the classes the filter lets through (what the box table lists)."""
        wanted = self.class_filter()
        return [a for a in self.annotations if not wanted or a.category_name in wanted]

    def leave(self) -> None:
        self.clock.leave()
        self.image_id = None
        self.annotations = []

    # edits ----------------------------------------------------------------------------------------------
    def _do(self, action: Callable[[], Edit]) -> Edit | None:
        self.clock.activity()
        try:
            edit = action()
        except DetectorAppError as exc:
            self.error.emit(str(exc))
            self.refresh()
            return None
        self.undo_stack.push(EditCommand(self, edit))
        self.refresh()
        return edit

    def loaded_revision(self, key: int) -> int | None:
        """The revision of box ``key`` as this view loaded it: an edit from it is refused if the box moved on."""
        return next((a.revision for a in self.annotations if a.id == key), None)

    def _on_box_edited(self, key: int, _before: tuple, after: tuple) -> None:
        if self.image_id is None:  # the canvas shows something else (a video task's frame: its keys are tracks)
            return
        self._do(lambda: self.reviewer.move(key, after, self.loaded_revision(key)))

    def _on_box_drawn(self, bbox: tuple) -> None:
        if self.image_id is None:
            return
        names = [c.name for c in self.repo.categories()]
        category = self.draw_class if self.draw_class in names else (names[0] if names else self.ask_class())
        if not category:  # no class yet and none named: the box is not kept
            return
        self.draw_class = category
        image_id = self.image_id
        edit = self._do(lambda: self.reviewer.draw(image_id, category, bbox))
        if edit is not None and edit.after[0] is not None:
            self.canvas.select(edit.after[0].id)

    def selected(self) -> int | None:
        return self.canvas.selected_key()

    def accept_selected(self) -> None:
        key = self.selected()
        pending = self._is_pending(key)
        if (key is not None and self._do(lambda: self.reviewer.accept(key, self.loaded_revision(key))) is not None
                and pending):
            self._next_box(key)

    def reject_selected(self) -> None:
        key = self.selected()
        pending = self._is_pending(key)
        if (key is not None and self._do(lambda: self.reviewer.reject(key, self.loaded_revision(key))) is not None
                and pending):
            self._next_box(key)

    def _is_pending(self, key: int | None) -> bool:
        """Whether box ``key`` still waits for review. Only deciding such a box moves on: a person correcting an
        already decided box stays to see the change."""
        return any(a.id == key and a.status == Status.PREDICTED for a in self.visible_annotations())

    def _next_box(self, done: int) -> None:
        """Select the next box still to review on screen (after ``done``, wrapping); none left: image_done."""
        if self.advance and self.select_pending(after=done) is None:
            self.image_done.emit()

    def select_pending(self, after: int = 0) -> int | None:
        """Select the first box to review on screen after id ``after`` (wrapping); None when there is none."""
        pending = [a.id for a in self.visible_annotations() if a.status == Status.PREDICTED]
        if not pending:
            return None
        key = next((k for k in pending if k > after), pending[0])
        self.canvas.select(key)
        return key

    def toggle_hidden(self) -> None:
        key = self.selected()
        if key is not None:
            self.hidden.add(key)
            self.refresh()

    def show_hidden(self) -> None:
        self.hidden.clear()
        self.refresh()

    def toggle_locked(self) -> None:
        key = self.selected()
        if key is not None:
            self.locked.symmetric_difference_update({key})
            self.refresh()
            self.canvas.select(key)

    def delete_selected(self) -> None:
        key = self.selected()
        if key is not None:
            self._do(lambda: self.reviewer.delete(key, self.loaded_revision(key)))

    def relabel_selected(self, category: str) -> None:
        key = self.selected()
        if key is None:
            self.draw_class = category  # no box selected: the class for the next drawn box
            return
        self.draw_class = category
        self._do(lambda: self.reviewer.relabel(key, category, self.loaded_revision(key)))
        self.canvas.select(key)

    def accept_all(self) -> None:
        if self.image_id is not None:
            image_id = self.image_id
            self._do(lambda: self.reviewer.accept_all(image_id, self.threshold()))
