"""A video as a labelling task in the window: its frames on the canvas, the timeline under it, and every edit
(keyframes, new tracks, copy from the previous frame, end a track, propagate, accept/reject) through
``review.video_edits.VideoTasks`` onto the window's undo stack.

Frames are decoded on the UI thread through the task's decode cache (a step costs a few ms; see
benchmarks/bench_video_task.py); propagate, which runs the model, goes to a superqt worker (video_propagate.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction, QUndoStack
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLabel, QMainWindow, QMenu, QStackedWidget, QWidget

from detector_app.core.palette import class_color
from detector_app.core.tracks import BoxKind
from detector_app.errors import DetectorAppError
from detector_app.review.video_edits import VideoEdit, VideoTasks
from detector_app.storage.project import Project
from detector_app.storage.video_change import frame_path
from detector_app.storage.video_records import FrameBox, VideoRecord
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.filters import Filters
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.live_view import LiveController
from detector_app.ui.messages import Messages
from detector_app.ui.model_controller import ModelController
from detector_app.ui.video_actions import VideoActions
from detector_app.ui.video_boxes import VideoCommand, box_key, box_summary, frame_specs
from detector_app.ui.video_propagate import PropagateRun
from detector_app.ui.video_timeline import VideoTimeline
from detector_app.ui.workers import BackgroundTasks

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)"
PROPAGATE_KEY = "video/propagate_frames"


class VideoController(QObject):
    """Owns the open ``video`` task and its ``frame``; ``active`` while it is on the canvas."""

    def __init__(self, window: QWidget, settings: QSettings, canvas: AnnotationCanvas, stack: QStackedWidget,
                 timeline: VideoTimeline, images: ImagesController, live: LiveController, model: ModelController,
                 filters: Filters, messages: Messages, background: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.settings, self.canvas, self.stack, self.timeline = window, settings, canvas, stack, timeline
        self.images, self.live, self.model, self.filters = images, live, model, filters
        self.messages, self.background = messages, background
        self.tasks: VideoTasks | None = None
        self.project: Project | None = None
        self.video: VideoRecord | None = None
        self.frame = 0
        self.shown: list[FrameBox] = []
        self.propagation: PropagateRun | None = None
        self.status = QLabel()  # "clip.avi · frame 12 / 40 · 3 tracks · 2 boxes: …"
        if isinstance(window, QMainWindow):
            window.statusBar().addWidget(self.status, 1)
        self.actions = VideoActions(
            window, self.step, self.go_to, lambda: self.go_to(self.video.frame_count - 1 if self.video else 0),
            self.choose_video, self.copy_previous, self.end_track, lambda: self.propagate(), self.accept_selected,
            self.reject_selected, self.delete_selected,
            [images.act_prev2, images.act_next2, images.act_accept, images.act_accept_enter, images.act_reject,
             images.act_delete])
        timeline.seek.connect(self.go_to)
        timeline.color_of = class_color
        timeline.hide()
        canvas.box_edited.connect(self._on_box_edited)
        canvas.box_drawn.connect(self._on_box_drawn)
        canvas.selection_changed.connect(self._on_selection)
        images.act_draw.triggered.connect(self._on_draw_toggled)
        live.first_frame.connect(self.leave)  # a live source took the canvas
        images.open_frame = self.open_frame_image
        for action in window.actions():  # 1 … 9 choose the class of the next track drawn
            digit = re.fullmatch(r"Class (\d)", action.text())
            if digit:
                action.triggered.connect(partial(self._class_key, int(digit.group(1))))

    @property
    def active(self) -> bool:
        return self.video is not None

    @property
    def undo_stack(self) -> QUndoStack:
        return self.images.undo_stack

    # the project ----------------------------------------------------------------------------------------
    def close_project(self) -> None:
        """Before the project closes (ProjectController.closing): off the canvas, the decoders closed."""
        self.leave()
        if self.propagation is not None:
            self.propagation.cancel()
        if self.tasks is not None:
            self.tasks.close()
        self.tasks = self.project = None

    def set_project(self, project: Project) -> None:
        self.close_project()
        self.project = project
        self.tasks = VideoTasks(project.repo)
        self.actions.set_read_only(project.read_only)
        self.images.review.image_shown.connect(lambda _image_id: self.leave())  # a project image took the canvas

    def fill_videos_menu(self, menu: QMenu) -> None:
        """File › Video tasks: the project's videos, each opening where it was left (frame 1 when new)."""
        menu.clear()
        videos = self.tasks.store.videos() if self.tasks is not None else []
        for video in videos:
            action = QAction(f"{video.path.name} ({video.frame_count} frames)", menu)
            action.triggered.connect(lambda _c=False, v=video.id: self.show(v, 0))
            menu.addAction(action)
        if not videos:
            none = menu.addAction("No video tasks yet: File › Label a video…")
            none.setEnabled(False)

    def open_frame_image(self, image_id: int) -> bool:
        """A project image that is a labelled frame of a video task is shown in its video (True)."""
        if self.tasks is None:
            return False
        record = self.project.repo.get_image(image_id)
        if record.frame_index is None or record.video_path is None:
            return False
        video = next((v for v in self.tasks.store.videos()
                      if record.stored_path == frame_path(v.stored_path, record.frame_index)), None)
        if video is None:
            return False  # a captured frame: an image file of its own
        self.show(video.id, record.frame_index)
        return True

    # opening and showing --------------------------------------------------------------------------------
    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Label a video", self.settings.value("source/dir", ""),
                                              VIDEO_FILTER)
        if path:
            self.settings.setValue("source/dir", str(Path(path).parent))
            self.open_video(Path(path))

    def open_video(self, path: Path) -> VideoRecord | None:
        """Add the video to the project as a task (or find it) and show its first frame."""
        if self.tasks is None:
            return None
        try:
            video = self.tasks.open_video(path)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return None
        self.show(video.id, 0)
        if self.active and not self.timeline.lines:
            self.messages.show_info(f"{video.path.name}: {video.frame_count} frames, read from the file (not "
                                    "copied). Press D and drag to start a track; ←/→ step frames.", 8000)
        return video

    def show(self, video_id: int, frame: int) -> None:
        """Video task ``video_id`` on the canvas at ``frame`` (an undo goes back to where its edit happened)."""
        if self.tasks is None:
            return
        if self.video is None or self.video.id != video_id:
            try:
                video = self.tasks.store.get_video(video_id)
            except DetectorAppError as exc:
                self.messages.show_error(str(exc))
                return
            self._enter(video)
        self.refresh(frame)

    def _show_edit(self, video_id: int, frame: int) -> None:
        """After an undo or redo: where its edit happened, and the image list and class counts as now."""
        self.show(video_id, frame)
        self.images.refresh()

    def _enter(self, video: VideoRecord) -> None:
        self.live.stop()
        if self.images.review is not None and self.images.review.image_id is not None:
            self.images.leave()
        self.video, self.frame = video, -1
        self.canvas.set_boxes([], editable=False)  # the last image's boxes go before the view fits the frame
        self.stack.setCurrentWidget(self.canvas)
        self.timeline.set_video(video.frame_count)
        self.timeline.show()
        self.actions.enter()

    def leave(self) -> None:
        """The canvas shows something else: the timeline goes and the keys go back to the images."""
        if self.video is None:
            return
        self.video, self.shown = None, []
        self.timeline.hide()
        self.actions.leave()
        self.status.setText("")

    def refresh(self, frame: int | None = None) -> None:
        """Show ``frame`` (default: the current one) with its boxes, and the timeline as stored now."""
        if self.video is None:
            return
        self.timeline.set_lines(self.tasks.timeline(self.video.id))
        self.go_to(self.frame if frame is None else frame, force=True)

    def step(self, frames: int) -> None:
        self.go_to(self.frame + frames)

    def go_to(self, frame: int, force: bool = False) -> None:
        if self.video is None:
            return
        frame = min(max(frame, 0), self.video.frame_count - 1)
        if frame == self.frame and not force:
            return
        try:
            image = self.tasks.frame(self.video.id, frame)
            self.shown = self.tasks.boxes_at(self.video.id, frame)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return
        first = self.frame < 0
        self.frame = frame
        self.canvas.set_image(image, fit=first)
        specs = frame_specs(self.shown)
        editable = not self.actions.read_only
        self.canvas.set_boxes(specs, editable=editable)
        self.images.box_table.set_boxes(specs, self.canvas.selected_key())
        self._on_selection(self.canvas.selected_key())
        self._show_status()

    def _show_status(self) -> None:
        tracks = len(self.timeline.lines)
        self.status.setText(f"Frame {self.frame + 1} / {self.video.frame_count} · {tracks} track"
                            f"{'s' if tracks != 1 else ''} · {box_summary(self.shown)}")
        self.status.setToolTip(str(self.video.path))

    def _on_selection(self, key: object) -> None:
        if self.active:
            self.timeline.set_frame(self.frame, key if isinstance(key, int) and key > 0 else None)

    # edits ----------------------------------------------------------------------------------------------
    def _do(self, action: Callable[[VideoTasks], VideoEdit], nothing: str = "") -> VideoEdit | None:
        """Run one edit; a changed project goes on the undo stack, a refusal to the banner."""
        if self.video is None or self.tasks is None or self.actions.read_only:
            return None
        try:
            edit = action(self.tasks)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            self.refresh()
            return None
        if edit.changed:
            self.undo_stack.push(VideoCommand(self.tasks, edit, self._show_edit, self.messages.show_error))
        elif nothing:
            self.messages.show_info(nothing, 5000)
        self.refresh()
        self.images.refresh()  # frames with boxes are project images; the class counts changed
        return edit

    def selected_box(self) -> FrameBox | None:
        key = self.canvas.selected_key()
        return next((b for b in self.shown if box_key(b) == key), None) if key is not None else None

    def _on_box_edited(self, key: int, _before: tuple, after: tuple) -> None:
        if not self.active:
            return
        box = next((b for b in self.shown if box_key(b) == key), None)
        if box is None or box.track_id is None:
            self.messages.show_info("A box on no track stays where it is: delete it and draw a track instead", 6000)
            self.refresh()
            return
        frame, track = self.frame, box.track_id
        self._do(lambda t: t.set_box(track, frame, after))

    def _on_box_drawn(self, bbox: tuple) -> None:
        if not self.active:
            return
        review = self.images.review
        names = [c.name for c in self.project.repo.categories()]
        category = review.draw_class if review.draw_class in names else (names[0] if names else review.ask_class())
        if not category:
            return
        review.draw_class = category
        video, frame = self.video.id, self.frame
        edit = self._do(lambda t: t.new_track(video, frame, category, bbox))
        if edit is not None and edit.tracks_after and edit.tracks_after[0] is not None:
            self.canvas.select(edit.tracks_after[0].id)

    def _class_key(self, digit: int) -> None:
        """Number keys on a video frame: the selected track's class, on every frame it lives; with no track
        selected, the class of the tracks drawn next."""
        names = [c.name for c in self.project.repo.categories()] if self.active else []
        if digit > len(names):
            return
        name, box = names[digit - 1], self.selected_box()
        self.images.review.draw_class = name
        if box is None or box.track_id is None:
            self.messages.show_info(f"New tracks are drawn as {name} (press D and drag)", 4000)
        elif box.category_name != name:
            track, frame = box.track_id, self.frame
            if self._do(lambda t: t.relabel_track(track, name, frame)) is not None:
                self.canvas.select(track)

    def _on_draw_toggled(self, on: bool) -> None:
        """Draw (D) works on a video frame too (the images' handler only turns it on for a project image)."""
        if self.active:
            self.canvas.set_draw_mode(on and not self.actions.read_only)

    def copy_previous(self) -> None:
        video, frame = self.video.id if self.video else 0, self.frame
        self._do(lambda t: t.copy_previous(video, frame), "Nothing to copy: the previous frame's boxes are here")

    def end_track(self) -> None:
        box = self.selected_box()
        if box is None or box.track_id is None:
            self.messages.show_info("Select a track's box first: End track ends the selected track here", 5000)
            return
        track, frame = box.track_id, self.frame
        self._do(lambda t: t.end_track(track, frame))
        self.messages.show_info(f"Track #{track} ends before frame {frame + 1}; its earlier frames are kept "
                                "(Ctrl+Z undoes)", 6000)

    def accept_selected(self) -> None:
        box = self.selected_box()
        if box is None:
            return
        if box.kind == BoxKind.INTERPOLATED and box.track_id is not None:  # accepting it places it: a keyframe
            track, frame, bbox = box.track_id, self.frame, box.bbox
            self._do(lambda t: t.set_box(track, frame, bbox))
        elif box.annotation_id is not None:
            box_id = box.annotation_id
            self._do(lambda t: t.accept(box_id))

    def reject_selected(self) -> None:
        self._on_stored_box(VideoTasks.reject)

    def delete_selected(self) -> None:
        self._on_stored_box(VideoTasks.delete_box)

    def _on_stored_box(self, edit: Callable[[VideoTasks, int], VideoEdit]) -> None:
        """``edit`` on the selected box when it is stored; an interpolated one has no row to change."""
        box = self.selected_box()
        if box is not None and box.annotation_id is not None:
            box_id = box.annotation_id
            self._do(lambda t: edit(t, box_id))
        elif box is not None:
            self._not_stored()

    def _not_stored(self) -> None:
        self.messages.show_info("This box is interpolated between keyframes, not stored: move it to make a "
                                "keyframe, or End track here (E)", 6000)

    # propagate ------------------------------------------------------------------------------------------
    def propagate(self, count: int | None = None) -> PropagateRun | None:
        """Run the model and the tracker over the next ``count`` frames (asked when None) on a worker."""
        if self.video is None or self.actions.read_only:
            return None
        detector = self.model.detector
        if detector is None:
            self.messages.show_error("No model is loaded yet: propagate needs one (Model menu)")
            return None
        if self.frame >= self.video.frame_count - 1:
            self.messages.show_info("This is the last frame: propagate runs forward from an earlier one", 5000)
            return None
        if count is None:
            count, ok = QInputDialog.getInt(
                self.window, "Propagate", "Frames to run the model and the tracker over:",
                int(self.settings.value(PROPAGATE_KEY, 30, type=int)), 1, self.video.frame_count - 1)
            if not ok:
                return None
            self.settings.setValue(PROPAGATE_KEY, count)
        run = PropagateRun(self.window, self.tasks, self.video.id, self.frame, count, detector.predict,
                           self.filters.threshold(), self.model.version_id(), self.background)
        self.propagation = run
        self.actions.set_busy(True)
        run.done.connect(self._on_propagated)
        run.failed.connect(self.messages.show_error)
        run.cancelled.connect(lambda: self.messages.show_info("Propagate cancelled: nothing was stored", 5000))
        run.worker.finished.connect(self._on_propagate_finished)
        return run

    def _on_propagated(self, edit: VideoEdit) -> None:
        if self.tasks is None:
            return
        if edit.changed:
            self.undo_stack.push(VideoCommand(self.tasks, edit, self._show_edit, self.messages.show_error))
        proposals = sum(1 for b in edit.boxes_after if b is not None and not b.keyframe)
        self.messages.show_info(f"{edit.text}: {proposals} boxes proposed, dashed on the frames and hollow on "
                                "the timeline; A accepts, R rejects, moving one corrects it", 8000)
        if self.video is not None and self.video.id == edit.video_id:
            self.refresh()
        self.images.refresh()

    def _on_propagate_finished(self) -> None:
        self.propagation = None
        self.actions.set_busy(False)
