"""The window actions of a video task, and the hand-over of shared keys while one is on screen.

Left/Right, A, Enter, R and Delete step images and review image boxes elsewhere; while a video task is shown
they step frames and act on its boxes instead. Only one action per key is enabled at a time (Qt ignores a
disabled action's shortcut), so the keys are never ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from detector_app.ui.actions import make_action

BIG_STEP = 10  # frames a Shift+arrow steps


class VideoActions:
    """The actions; ``enter``/``leave`` switch the shared keys between the images' actions and these."""

    def __init__(self, window: QWidget, step: Callable[[int], None], go_to: Callable[[int], None],
                 last: Callable[[], None], open_video: Callable[[], None], copy_previous: Callable[[], None],
                 end_track: Callable[[], None], propagate: Callable[[], None], accept: Callable[[], None],
                 reject: Callable[[], None], delete: Callable[[], None],
                 image_actions: Sequence[QAction]) -> None:
        w = window
        self.act_label_video = make_action(
            w, "Label a video…", open_video, "Ctrl+Shift+V", icon="label-video",
            tip="Add a video to the project as a labelling task: its frames are read from the file, not copied")
        self.act_prev = make_action(w, "Previous frame", partial(step, -1), "Left", icon="frame-previous")
        self.act_next = make_action(w, "Next frame", partial(step, 1), "Right", icon="frame-next")
        self.act_back = make_action(w, f"Back {BIG_STEP} frames", partial(step, -BIG_STEP), "Shift+Left",
                                    icon="frame-back-many")
        self.act_forward = make_action(w, f"Forward {BIG_STEP} frames", partial(step, BIG_STEP), "Shift+Right",
                                       icon="frame-forward-many")
        self.act_first = make_action(w, "First frame", partial(go_to, 0), "Home", icon="frame-first")
        self.act_last = make_action(w, "Last frame", last, "End", icon="frame-last")
        self.act_copy = make_action(w, "Copy boxes from previous frame", copy_previous, "C", icon="copy-previous",
                                    tip="Place every box of the previous frame here (tracks get a keyframe)")
        self.act_end = make_action(w, "End track here", end_track, "E", icon="end-track",
                                   tip="The selected track's object is gone from this frame on (its earlier "
                                       "frames stay)")
        self.act_propagate = make_action(w, "Propagate…", propagate, "Ctrl+P", icon="propagate",
                                         tip="Run the model and the tracker forward from this frame and propose "
                                             "boxes to review")
        self.act_accept = make_action(w, "Accept box (video)", accept, QKeySequence("A"), icon="accept",
                                      tip="Accept the selected proposal; an interpolated box becomes a keyframe")
        self.act_accept.setShortcuts([QKeySequence("A"), QKeySequence("Return")])
        self.act_reject = make_action(w, "Reject box (video)", reject, "R", icon="reject",
                                      tip="Reject the selected proposal")
        self.act_delete = make_action(w, "Delete box (video)", delete, QKeySequence.StandardKey.Delete,
                                      icon="delete", tip="Delete the selected keyframe or box")
        self.frame_actions = (self.act_prev, self.act_next, self.act_back, self.act_forward, self.act_first,
                              self.act_last)
        self.edit_actions = (self.act_copy, self.act_end, self.act_propagate, self.act_accept, self.act_reject,
                             self.act_delete)
        self.image_actions = tuple(image_actions)  # the images' actions on the same keys
        self._image_enabled: list[bool] | None = None  # their state before a video took the keys
        self.read_only = False
        for act in (*self.frame_actions, *self.edit_actions):
            act.setEnabled(False)

    def menu_actions(self) -> list[QAction | None]:
        """The Video menu (None: a separator)."""
        return [*self.frame_actions, None, self.act_copy, self.act_end, self.act_propagate, None,
                self.act_accept, self.act_reject, self.act_delete]

    def set_read_only(self, read_only: bool) -> None:
        self.read_only = read_only
        self.act_label_video.setEnabled(not read_only)

    def enter(self) -> None:
        if self._image_enabled is None:
            self._image_enabled = [a.isEnabled() for a in self.image_actions]
            for act in self.image_actions:
                act.setEnabled(False)
        for act in self.frame_actions:
            act.setEnabled(True)
        for act in self.edit_actions:
            act.setEnabled(not self.read_only)

    def leave(self) -> None:
        for act in (*self.frame_actions, *self.edit_actions):
            act.setEnabled(False)
        if self._image_enabled is not None:
            for act, enabled in zip(self.image_actions, self._image_enabled, strict=True):
                act.setEnabled(enabled)
            self._image_enabled = None

    def set_busy(self, busy: bool) -> None:
        """While a propagate runs it cannot be started again."""
        self.act_propagate.setEnabled(not busy and not self.read_only and self.act_prev.isEnabled())
