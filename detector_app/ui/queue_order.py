"""The review queue's order and the "Next most useful image" action.

Two orders for the "To review" list, chosen in the combo under the queue and remembered (``review/order``):
- "Most useful first": the uncertainty order of ``training/uncertainty.py`` (boxes scored near the decision
  threshold, disagreement between the two latest versions, images no model has seen), highest score first. It is
  the default once the project has a model version; before that the order has nothing to go on and the list is in
  file order (the combo says so and is disabled).
- "File order": by image id, as imported.

The ranking is computed on a worker (one bulk read of the boxes, then ``uncertainty.rank``) each time the list is
refreshed: the list shows at once in the last ranking known and re-sorts when the new one arrives, so a project of
thousands of images never freezes the window. Images the ranking does not know yet go last, in file order.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from detector_app.storage.project import Project
from detector_app.training.uncertainty import QueueEntry, review_queue
from detector_app.ui.actions import make_action
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.messages import Messages
from detector_app.ui.workers import BackgroundTasks, CallWorker, failure_message

USEFUL, FILE = "useful", "file"
ORDERS = ((USEFUL, "Most useful first"), (FILE, "File order"))
SETTING = "review/order"
SORTED_QUEUE = "unreviewed"  # only the "To review" list is put in the uncertainty order
NEXT_KEY = "U"
ORDER_TIP = ("Order of the “To review” list. Most useful first: images whose correction should teach the model "
             "most (boxes scored near the decision threshold, disagreement between the two latest model "
             "versions, images no model has seen), see `detector-app queue`. File order: as imported.")
NO_VERSION_TIP = ("No model version yet: train one (Model › Train on reviewed labels…) and the queue can be put "
                  "in the most useful order.")
NEXT_TIP = ("Go to the unreviewed image whose correction should teach the model most (again: the next one after "
            "it)")
NOTHING_LEFT = "No unreviewed images left: every image of the project is reviewed."


def _ranked(generation: int, repo: object) -> tuple[int, list[QueueEntry]]:
    """The ranking, tagged with the project generation it was asked for (runs on a worker)."""
    return generation, review_queue(repo)


class QueueOrder(QObject):
    """Sorts the image list (``ImagesController.sort_ids``) and owns ``act_next_useful``."""

    ranked = Signal()  # a new ranking arrived (and the list was re-sorted when it changed)

    def __init__(self, window: QWidget, images: ImagesController, combo: QComboBox, messages: Messages,
                 tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.images, self.combo, self.messages, self.tasks = window, images, combo, messages, tasks
        self.settings = getattr(window, "settings", None)
        self.project: Project | None = None
        self.entries: list[QueueEntry] = []  # the last ranking, best first
        self._rank: dict[int, int] = {}  # image id -> position in ``entries``
        self._has_version = False
        self._again = self._applying = self._jump = False
        self._generation = 0  # bumped per project: a late ranking of the previous project is dropped
        self._running: int | None = None  # the generation a ranking is under way for
        for key, text in ORDERS:
            combo.addItem(text, key)
        self.act_next_useful = make_action(window, "Next most useful image", self.next_useful, NEXT_KEY,
                                           tip=NEXT_TIP, icon="next-image")
        combo.currentIndexChanged.connect(self._on_order_chosen)
        images.sort_ids = self.sort
        window.installEventFilter(self)  # back from the training dialog: a version may exist now
        self._show_availability()

    # state -----------------------------------------------------------------------------------------------------
    def set_project(self, project: Project) -> None:
        self.project = project
        self._generation += 1
        self.entries, self._rank, self._jump = [], {}, False
        self.refresh_availability()
        self.recompute()

    def chosen(self) -> str:
        value = self.settings.value(SETTING, USEFUL) if self.settings is not None else USEFUL
        return FILE if value == FILE else USEFUL

    def useful_first(self) -> bool:
        """Whether the "To review" list is in the uncertainty order now."""
        return self._has_version and self.chosen() == USEFUL

    def refresh_availability(self) -> None:
        """Read whether the project has a model version (one short query) and enable what needs one."""
        has = self.project is not None and bool(self.project.repo.model_versions())
        if has != self._has_version:
            self._has_version = has
            self._show_availability()
            if has:
                self.recompute()

    def _show_availability(self) -> None:
        has = self._has_version
        self.act_next_useful.setEnabled(has)
        self.act_next_useful.setToolTip(f"{NEXT_TIP} ({NEXT_KEY})" if has else NO_VERSION_TIP)
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(self.combo.findData(self.chosen() if has else FILE))
        self.combo.blockSignals(False)
        self.combo.setEnabled(has)
        self.combo.setToolTip(ORDER_TIP if has else NO_VERSION_TIP)

    def _on_order_chosen(self, _index: int) -> None:
        if self.settings is not None:
            self.settings.setValue(SETTING, self.combo.currentData())
        if self.project is not None:
            self.images.refresh_image_list()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.WindowActivate and self.project is not None:
            self.refresh_availability()
        return False

    # the order -------------------------------------------------------------------------------------------------
    def sort(self, queue: str, image_ids: list[int]) -> list[int]:
        """``image_ids`` of ``queue`` in the order shown; asks for a fresh ranking (on a worker) while at it."""
        if queue != SORTED_QUEUE or not self.useful_first():
            return image_ids
        if not self._applying:
            self.recompute()
        last = len(self._rank)
        return sorted(image_ids, key=lambda i: (self._rank.get(i, last), i))

    def recompute(self) -> None:
        """Rank the unreviewed images on a worker; one more run follows when asked again meanwhile."""
        if self.project is None or not self._has_version:
            return
        if self._running == self._generation:
            self._again = True
            return
        self._running, self._again = self._generation, False
        worker = CallWorker(partial(_ranked, self._generation, self.project.repo))
        # Bound methods, not partials: Qt drops the connection when this object goes with its window.
        worker.returned.connect(self._on_ranked)
        worker.errored.connect(self._on_failed)
        self.tasks.start(worker)

    def _on_ranked(self, result: tuple[int, list[QueueEntry]]) -> None:
        generation, entries = result
        if generation != self._generation:
            return  # a ranking of the project that was open before
        self._running = None
        rank = {e.image_id: n for n, e in enumerate(entries)}
        changed, self.entries, self._rank = rank != self._rank, entries, rank
        if changed and self.useful_first() and self.images.queue_combo.currentData() == SORTED_QUEUE:
            self._applying = True  # the re-sort must not ask for yet another ranking
            try:
                self.images.refresh_image_list()
            finally:
                self._applying = False
        if self._jump:
            self._jump = False
            self._go_to_next()
        self.ranked.emit()
        if self._again:
            self.recompute()

    def _on_failed(self, exc: Exception) -> None:
        self._running, self._jump = None, False
        self.messages.show_error(failure_message("ordering the review queue failed", exc))

    # the action ------------------------------------------------------------------------------------------------
    def next_useful(self) -> None:
        """Show the most useful unreviewed image (after the one on the canvas, when that one is unreviewed)."""
        if self.project is None:
            return
        self.refresh_availability()
        if not self._has_version:
            self.messages.show_info(NO_VERSION_TIP, timeout_ms=6000)
            return
        if not self.entries:  # no ranking yet: jump as soon as it arrives
            self._jump = True
            self.recompute()
            return
        self._go_to_next()

    def _go_to_next(self) -> None:
        unreviewed = set(self.project.repo.image_ids(SORTED_QUEUE))  # one query: what was reviewed since
        order = [e.image_id for e in self.entries if e.image_id in unreviewed]
        order += sorted(unreviewed.difference(order))  # new since the ranking: last, in file order
        if not order:
            self.messages.show_info(NOTHING_LEFT, timeout_ms=6000)
            return
        current = self.images.review.image_id if self.images.review is not None else None
        after = order[order.index(current) + 1:] if current in order else order
        if not after:
            self.messages.show_info("This is the last unreviewed image of the queue.", timeout_ms=6000)
            return
        self.images.show_image(after[0])
        self.images.review.select_pending()  # A / R work at once on its first box to review
