"""What the canvas draws for a video frame, and a video edit on the window's undo stack.

Canvas keys: a track's box is keyed by its track id (positive), so the selection follows the track from frame
to frame; a plain box (on no track) by minus its annotation id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtGui import QUndoCommand

from detector_app.core.palette import class_color
from detector_app.core.tracks import BoxKind
from detector_app.errors import DetectorAppError
from detector_app.review.video_edits import VideoEdit, VideoTasks
from detector_app.storage.video_records import FrameBox
from detector_app.ui.box_item import BoxSpec

KEYFRAME_MARK = "\N{BLACK DIAMOND}"  # on a keyframe's tag, as on the timeline


def box_key(box: FrameBox) -> int:
    if box.track_id is not None:
        return int(box.track_id)
    assert box.annotation_id is not None  # a plain box is always stored
    return -int(box.annotation_id)


def frame_spec(box: FrameBox) -> BoxSpec:
    """A keyframe is solid with a diamond on its tag, an interpolated box dotted (BoxItem), a proposal dashed."""
    status = BoxKind.INTERPOLATED.value if box.kind == BoxKind.INTERPOLATED else (box.status or "")
    label = f"{box.category_name} {KEYFRAME_MARK}" if box.kind == BoxKind.KEYFRAME else box.category_name
    score = box.score if box.kind == BoxKind.PROPOSAL else None
    return BoxSpec(box_key(box), tuple(box.bbox), label, score, status, class_color(box.category_name),
                   track_id=box.track_id)


def frame_specs(boxes: Sequence[FrameBox]) -> list[BoxSpec]:
    return [frame_spec(b) for b in boxes]


def box_summary(boxes: Sequence[FrameBox]) -> str:
    """"2 boxes (1 keyframe, 1 interpolated)" for the status bar."""
    if not boxes:
        return "no box here"
    counts: dict[str, int] = {}
    for b in boxes:
        counts[b.kind.value] = counts.get(b.kind.value, 0) + 1
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return f"{len(boxes)} box{'es' if len(boxes) != 1 else ''} ({parts})"


class VideoCommand(QUndoCommand):
    """A video edit already written; undo/redo write its snapshots back, then ``show(video_id, frame)`` goes
    to where it happened. One that fails (the rows changed under it) says why and leaves the stack."""

    def __init__(self, tasks: VideoTasks, edit: VideoEdit, show: Callable[[int, int], None],
                 error: Callable[[str], None]) -> None:
        super().__init__(edit.text)
        self.tasks, self.edit, self.show, self.error = tasks, edit, show, error
        self._applied = True

    def redo(self) -> None:
        if self._applied:  # pushed right after the change was made
            self._applied = False
            return
        self._write_back(self.tasks.redo)

    def undo(self) -> None:
        self._write_back(self.tasks.undo)

    def _write_back(self, apply: Callable[[VideoEdit], None]) -> None:
        try:
            apply(self.edit)
        except DetectorAppError as exc:
            self.setObsolete(True)
            self.error(str(exc))
        self.show(self.edit.video_id, self.edit.frame)
