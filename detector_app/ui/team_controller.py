"""Working on a project with others: the annotator's name (a setting), "Next image for me", and other people's
edits appearing without a restart.

Other people's edits: every ``POLL_MS`` two small aggregate queries run on a worker thread. The image's
(``TeamStore.image_marker``) is compared with the marker of the boxes the view loaded (``boxes_marker``), so a
change made at any time since the view loaded is seen; the project's (``project_marker``: the image list's counts
and marks) with the one taken when the project opened or last polled. On a difference the view reloads the boxes
or the list. A poll is skipped while the previous one runs or while a mouse button is down (a box being dragged
is not swapped under the cursor).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QWidget

from detector_app.core.names import InvalidNameError, printable
from detector_app.errors import DetectorAppError
from detector_app.storage.identity import annotator_name, check_annotator
from detector_app.storage.project import Project
from detector_app.storage.repository import Repository
from detector_app.storage.team import boxes_marker
from detector_app.ui.actions import make_action
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.messages import Messages
from detector_app.ui.workers import BackgroundTasks, CallWorker, failure_message

POLL_MS = 2000
ANNOTATOR_SETTING = "team/annotator"  # empty or missing: $DETECTOR_APP_ANNOTATOR, else the OS user


def read_markers(repo: Repository, image_id: int | None) -> tuple[Any, Any]:
    """What the poll compares (on a worker thread): the shown image's marker and the project's."""
    return (repo.image_marker(image_id) if image_id is not None else None), repo.project_marker()


class TeamController(QObject):
    def __init__(self, window: QWidget, settings: QSettings, images: ImagesController, messages: Messages,
                 tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.settings, self.images, self.messages, self.tasks = window, settings, images, messages, tasks
        self.project: Project | None = None
        self.act_next_for_me = make_action(
            window, "Next image for me", self.next_image_for_me, "Ctrl+Return",
            tip="Open the next unreviewed image nobody else is reviewing, and hold it for you (team projects)",
            icon="next-for-me")
        self.act_annotator = make_action(window, "Annotator name…", self.ask_annotator,
                                         tip="The name your edits are recorded under", icon="annotator")
        self.actions: list[QAction] = [self.act_next_for_me, self.act_annotator]
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self._poll: CallWorker | None = None
        self._polled: tuple[Project | None, int | None] = (None, None)  # what the running poll reads
        self._project_marker: Any = None  # as the image list was last loaded
        self._poll_error: str | None = None

    # the annotator ------------------------------------------------------------------------------------------
    def configured_name(self) -> str:
        return str(self.settings.value(ANNOTATOR_SETTING, "") or "")

    def set_project(self, project: Project) -> None:
        self.project = project
        try:
            self._project_marker = project.repo.project_marker()  # the list was loaded just now
        except DetectorAppError:
            self._project_marker = None
        try:
            project.repo.annotator = annotator_name(self.configured_name())
        except InvalidNameError as exc:  # a settings file edited by hand: say so, record the default name
            self.messages.show_error(f"the annotator name in the settings cannot be used: {exc}")
        self._share_name()
        self.timer.start()

    def _share_name(self) -> None:
        if self.project is not None and self.images.review is not None:
            self.images.review.annotator = self.project.repo.annotator  # review times are recorded under it too

    def ask_annotator(self) -> None:
        current = self.project.repo.annotator if self.project is not None else annotator_name()
        text, ok = QInputDialog.getText(self.window, "Annotator name", "Your edits are recorded under this name "
                                        "(empty: your user name):", QLineEdit.EchoMode.Normal, current)
        if ok:
            self.set_annotator(text)

    def set_annotator(self, text: str) -> None:
        """Keep ``text`` as this person's name (empty: back to the default) and record the next edits under it."""
        try:
            name = check_annotator(text) if text.strip() else ""
        except InvalidNameError as exc:
            self.messages.show_error(str(exc))
            return
        self.settings.setValue(ANNOTATOR_SETTING, name)
        if self.project is not None:
            self.project.repo.annotator = annotator_name(name)
            self._share_name()
            self.messages.show_info(f"edits are recorded as {printable(self.project.repo.annotator)}", 4000)

    # next image for me ---------------------------------------------------------------------------------------
    def next_image_for_me(self) -> None:
        """Claim and open an unreviewed image nobody holds: in the list's order when it shows the images to
        review (the queue's order), else by id."""
        if self.project is None:
            return
        model = self.images.image_model
        queue = self.images.queue_combo.currentData()
        order = ([i for row in range(model.rowCount()) if (i := model.image_id(row)) is not None]
                 if model is not None and queue == "unreviewed" else None)
        try:
            image = self.project.repo.claim_next_image(order=order)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return
        if image is None:
            self.messages.show_info("No image is left to review: every unreviewed image is reviewed or held by "
                                    "someone else.", 6000)
            return
        self.images.show_image(image.id)

    # other people's edits -----------------------------------------------------------------------------------
    def poll(self) -> None:
        if self.project is None or self._poll is not None or self.images.review is None:
            return
        if not self.window.isVisible() or QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return  # a closed window; a drag in progress (look again at the next tick)
        image_id = self.images.review.image_id
        worker = CallWorker(partial(read_markers, self.project.repo, image_id))
        self._polled = (self.project, image_id)
        worker.returned.connect(self._on_markers)  # a bound slot: dropped with this controller
        worker.errored.connect(self._on_poll_failed)
        worker.finished.connect(self._poll_done)
        self._poll = worker
        self.tasks.start(worker)

    def _poll_done(self) -> None:
        self._poll = None

    def _on_poll_failed(self, exc: BaseException) -> None:
        message = failure_message("checking for other people's edits failed", exc)
        if message != self._poll_error:  # once, not every two seconds
            self.messages.show_error(message)
        self._poll_error = message

    def _on_markers(self, markers: tuple[Any, Any]) -> None:
        project, image_id = self._polled
        review = self.images.review
        if project is not self.project or review is None or not self.window.isVisible():
            return  # another project was opened meanwhile, or the window closed
        self._poll_error = None
        image_marker, project_marker = markers
        if project_marker != self._project_marker:
            self._project_marker = project_marker
            self.images.refresh()  # the list, its marks and counts, the classes
        if image_id is not None and image_id == review.image_id and image_marker != boxes_marker(review.annotations):
            review.refresh()  # the boxes on screen, as they are now
