"""The frames of video tasks in an export: every frame that shows a box, interpolated frames included.

``read_label_set`` gives the frames that have rows (the frames with stored boxes); an export of a video task
must also hold the frames between keyframes, which have no row (migration 0005). ``with_video_frames``
replaces the video-task frames of a label set by every frame that shows a box, each box with its
``track_id``, as COCO-VID and MOT users expect: interpolated boxes are exported as labels when both
keyframes around them are labels (``core.tracks``), not only the keyframes themselves.

Scope: "reviewed" keeps the boxes that count as labels (an interpolated one: see above) on any frame, whether
or not its row was marked reviewed; "all" keeps every box but rejected ones; a list of image ids leaves the
label set as it is (those frames with their stored boxes). Frames keep the export ids of their rows; frames
without a row, and interpolated boxes, get the next ids free in this export (``LabelSet.numbered``). No frame image is written here: an export that
copies images decodes each frame from its video.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from detector_app.core.labels import Box, LabelledImage, LabelSet, Origin, Status
from detector_app.core.tracks import BoxKind
from detector_app.storage.label_export import Scope, export_ids
from detector_app.storage.models import Annotation
from detector_app.storage.repository import Repository
from detector_app.storage.video_change import frame_path
from detector_app.storage.video_records import FrameBox
from detector_app.storage.video_store import VideoStore

_STATUS = {s.value: s for s in Status}


def with_video_frames(repo: Repository, labels: LabelSet, scope: Scope = "reviewed") -> LabelSet:
    """``labels`` with the frames of every video task as the module docstring says (unchanged without any)."""
    store = VideoStore(repo)
    videos = store.videos()
    if not videos or not isinstance(scope, str):
        return labels
    with repo.reading() as s:
        box_ids = export_ids(s, Annotation)
    frame_files = {os.path.dirname(repo.absolute_path(frame_path(v.stored_path, 0))): v for v in videos}
    kept, rows = [], {}
    for image in labels.images:
        folder = os.path.dirname(image.path) if image.path is not None else None
        if folder in frame_files and image.frame_index is not None:
            rows[(frame_files[folder].id, image.frame_index)] = image
        else:
            kept.append(image)
    added = []
    for video in videos:
        for frame, shown in store.track_boxes(video.id).items():
            boxes = tuple(_box(b, box_ids) for b in shown if scope == "all" or b.is_label)
            if not boxes:
                continue
            row = rows.get((video.id, frame))
            added.append(LabelledImage(
                Path(frame_path(video.stored_path, frame)).name, video.width, video.height, boxes,
                repo.absolute_path(frame_path(video.stored_path, frame)), row.id if row else None, video.path, frame,
                True, "", row.split if row else None))
    return replace(labels, images=(*kept, *added)).numbered().relative_to_common_folder()


def _box(shown: FrameBox, box_ids: dict[int, int]) -> Box:
    """The export box; status and origin chosen so that ``Box.is_label`` is what the frame showed."""
    if shown.kind == BoxKind.INTERPOLATED or shown.status is None:
        status = Status.ACCEPTED if shown.is_label else Status.PREDICTED
    else:
        status = _STATUS[shown.status]
    origin = Origin.HUMAN if shown.is_label else Origin.MODEL
    box_id = box_ids.get(shown.annotation_id) if shown.annotation_id is not None else None
    return Box(shown.category_name, shown.bbox, 0, shown.score, status, origin, box_id, shown.track_id)
