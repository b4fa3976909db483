"""Labelling a video: every operation a window needs, each one call, one transaction and one undoable edit.

``VideoTasks`` opens a video as a task (one row, frames decoded on demand through a ``FrameCache``), tells
what a frame shows, and changes tracks and boxes. Each change returns a :class:`VideoEdit` holding the
snapshots of every row it touched; ``undo``/``redo`` write them back in one transaction. The rules of what is
shown (interpolation, ends of tracks) are in ``core.tracks``; the notes for the window are in
/work/notes/video-api.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector_app.core.detections import Detections
from detector_app.core.labels import BACKGROUND, Origin, Status
from detector_app.core.tracks import BoxKind, end_from
from detector_app.errors import StorageError
from detector_app.review.edits import clamp_bbox
from detector_app.sources.frame_cache import DEFAULT_BUDGET, FrameCache, probe_video
from detector_app.storage.models import Annotation
from detector_app.storage.repository import Repository, _check_bbox
from detector_app.storage.video_change import VideoChange, box_query, box_record, human_box
from detector_app.storage.video_records import (
    BBox,
    FrameBox,
    FrameBoxRecord,
    TrackLine,
    TrackRecord,
    VideoRecord,
)
from detector_app.storage.video_store import VideoStore
from detector_app.tracking.tracker import NO_TRACK, Tracker, TrackerConfig

DetectorFn = Callable[[np.ndarray], Detections]
MODEL_TRACK = "model"  # created_by of a track that propagate started


@dataclass(frozen=True)
class VideoEdit:
    """One user action on a video: the rows it touched (by id), as they were and as they are after it (None:
    the row does not exist on that side). ``frame`` is where it happened (the window goes back there)."""

    text: str
    video_id: int
    frame: int
    track_ids: tuple[int, ...]
    tracks_before: tuple[TrackRecord | None, ...]
    tracks_after: tuple[TrackRecord | None, ...]
    box_ids: tuple[int, ...]
    boxes_before: tuple[FrameBoxRecord | None, ...]
    boxes_after: tuple[FrameBoxRecord | None, ...]

    @property
    def changed(self) -> bool:
        return self.tracks_before != self.tracks_after or self.boxes_before != self.boxes_after


class VideoTasks:
    """The labelling operations on the video tasks of ``repo``'s project (``user``: who creates tracks, by
    default the repository's annotator, who is recorded on every box edit)."""

    def __init__(self, repo: Repository, *, user: str | None = None, cache_bytes: int = DEFAULT_BUDGET) -> None:
        self.repo = repo
        self.store = VideoStore(repo)
        self.user = user if user is not None else repo.annotator  # who creates tracks (boxes: repo.annotator)
        self.cache_bytes = cache_bytes
        self._caches: dict[int, FrameCache] = {}

    # --- videos and frames -------------------------------------------------------------------------

    def open_video(self, path: str | Path) -> VideoRecord:
        """Add the video as a task (or find it): reads its header, writes one row, copies nothing."""
        return self.store.add_video(probe_video(path))

    def frame(self, video_id: int, index: int) -> np.ndarray:
        """Frame ``index`` as BGR pixels (read-only), from the video's decode cache."""
        cache = self._caches.get(video_id)
        if cache is None:
            video = self.store.get_video(video_id)
            cache = self._caches[video_id] = FrameCache(video.path, self.cache_bytes, video.frame_count)
        return cache.frame(index)

    def close(self) -> None:
        for cache in self._caches.values():
            cache.close()
        self._caches.clear()

    def boxes_at(self, video_id: int, frame: int) -> list[FrameBox]:
        return self.store.boxes_at(video_id, frame)

    def timeline(self, video_id: int) -> list[TrackLine]:
        return self.store.timeline(video_id)

    # --- edits -------------------------------------------------------------------------------------

    def new_track(self, video_id: int, frame: int, category: str | int, bbox: BBox) -> VideoEdit:
        """A new track with its first keyframe at ``frame`` (open to the end of the video until ended)."""
        with self.store.change() as ch:
            video = self.store.video_row(ch.s, video_id)
            category_id = self.repo._category_id(ch.s, category)
            track_id = ch.new_track(video_id, category_id, self.user)
            ch.put_box(video, frame, self._box(bbox, video.width, video.height), category_id=category_id,
                       track_id=track_id, keyframe=True, status=Status.ACCEPTED, origin=Origin.HUMAN)
            return self._edit("New track", video_id, frame, ch)

    def set_box(self, track_id: int, frame: int, bbox: BBox) -> VideoEdit:
        """Place the track's box at ``frame``: it becomes a keyframe (a proposal there is taken over: accepted
        when unmoved, corrected when moved); the frames around it are interpolated again."""
        with self.store.change() as ch:
            track = ch.track_row(track_id)
            video = self.store.video_row(ch.s, track.video_id)
            box = self._box(bbox, video.width, video.height)
            if track.ended_at_frame is not None and frame >= track.ended_at_frame:
                ch.set_end(track_id, frame + 1)  # a box after the end extends the track up to it
            stored = self._stored_at(ch, track.video_id, track_id, frame)
            origin, status = human_box(stored.origin if stored else None, stored is None or stored.bbox != box)
            ch.put_box(video, frame, box, category_id=track.category_id, track_id=track_id, keyframe=True,
                       status=status, origin=origin, score=stored.score if stored else None,
                       model_version_id=stored.model_version_id if stored else None)
            return self._edit("Set keyframe", track.video_id, frame, ch)

    def add_box(self, video_id: int, frame: int, category: str | int, bbox: BBox) -> VideoEdit:
        """A plain box on one frame (on no track)."""
        with self.store.change() as ch:
            video = self.store.video_row(ch.s, video_id)
            ch.put_box(video, frame, self._box(bbox, video.width, video.height),
                       category_id=self.repo._category_id(ch.s, category), track_id=None, keyframe=False,
                       status=Status.ACCEPTED, origin=Origin.HUMAN)
            return self._edit("Draw box", video_id, frame, ch)

    def accept(self, box_id: int) -> VideoEdit:
        return self._status(box_id, Status.ACCEPTED, "Accept box")

    def reject(self, box_id: int) -> VideoEdit:
        """Reject a stored box (a proposal): kept for the record, no longer an anchor of its track."""
        return self._status(box_id, Status.REJECTED, "Reject box")

    def delete_box(self, box_id: int) -> VideoEdit:
        with self.store.change() as ch:
            before = self._stored(ch, box_id)
            ch.delete_box(box_id)
            return self._edit("Delete box", before.video_id, before.frame, ch)

    def relabel_track(self, track_id: int, category: str | int, frame: int) -> VideoEdit:
        """The track is of another class, on every frame it lives (its boxes follow it); ``frame`` is where the
        person made the change (what undo shows again)."""
        with self.store.change() as ch:
            category_id = self.repo._category_id(ch.s, category)  # a new class first: classes, then images
            track = ch.track_row(track_id)
            ch.set_track_category(track_id, category_id)
            return self._edit("Change class", track.video_id, frame, ch)

    def end_track(self, track_id: int, frame: int) -> VideoEdit:
        """The object is gone from ``frame`` on. Every box shown before ``frame`` stays as it was (the one at
        ``frame - 1`` is stored when it was interpolated towards a later box); stored boxes from ``frame`` on go."""
        with self.store.change() as ch:
            track = ch.track_row(track_id)
            video = self.store.video_row(ch.s, track.video_id)
            if not 0 <= frame <= video.frame_count:
                raise StorageError(f"a track ends at a frame from 0 to {video.frame_count}, not {frame}")
            end = end_from(self.store.anchors(track.video_id)[track_id], frame)
            later = [b for b in self._track_boxes(track.video_id, track_id) if b.frame >= frame]
            for box in later:  # rejected ones too: nothing of the track is left after its end
                ch.delete_box(box.id)
            if end.added is not None:
                origin = Origin.HUMAN if end.added.keyframe else Origin.MODEL
                status = Status.ACCEPTED if end.added.is_label else Status.PREDICTED
                ch.put_box(video, end.added.frame, end.added.bbox, category_id=track.category_id, track_id=track_id,
                           keyframe=end.added.keyframe, status=status, origin=origin)
            ch.set_end(track_id, frame)
            return self._edit("End track", track.video_id, frame, ch)

    def copy_previous(self, video_id: int, frame: int) -> VideoEdit:
        """Every box frame ``frame - 1`` shows is placed at ``frame``: a track's as a keyframe (unless a box of
        it is stored there already, or it has ended), a plain box as a plain box."""
        if frame < 1:
            raise StorageError("the first frame has no previous frame to copy from")
        previous = self.store.boxes_at(video_id, frame - 1)
        here = self.store.boxes_at(video_id, frame)
        anchored = {b.track_id for b in here if b.track_id is not None and b.kind != BoxKind.INTERPOLATED}
        alive = {b.track_id for b in here if b.track_id is not None}
        plain_here = {(b.category_name, b.bbox) for b in here if b.kind == BoxKind.PLAIN}
        with self.store.change() as ch:
            # The plain boxes' classes first, then the frame's rows (the lock order, storage/team.py).
            category_ids = {name: self.repo._category_id(ch.s, name)
                            for name in {b.category_name for b in previous if b.track_id is None}}
            video = self.store.video_row(ch.s, video_id)
            for box in previous:
                if box.track_id is not None:
                    if box.track_id in anchored or box.track_id not in alive:
                        continue
                    ch.put_box(video, frame, box.bbox, category_id=ch.track_row(box.track_id).category_id,
                               track_id=box.track_id, keyframe=True, status=Status.ACCEPTED, origin=Origin.HUMAN)
                elif (box.category_name, box.bbox) not in plain_here:
                    ch.put_box(video, frame, box.bbox, category_id=category_ids[box.category_name],
                               track_id=None, keyframe=False, status=Status.ACCEPTED, origin=Origin.HUMAN)
            return self._edit("Copy boxes from the previous frame", video_id, frame, ch)

    def propagate(self, video_id: int, frame: int, count: int, detector: DetectorFn, *,
                  tracker: Tracker | None = None, min_score: float = 0.3,
                  model_version_id: int | None = None) -> VideoEdit:
        """Run ``detector`` and the tracker on frames ``frame + 1 .. frame + count`` and store what they find as
        proposals (``predicted``, not keyframes) for review. The tracks shown at ``frame`` seed the tracker, so
        their objects keep their tracks; an object it starts a new track for gets a track of the model's (ended
        after its last proposal). A person's keyframe is never overwritten. Decoding and detection run before
        the one write transaction."""
        video = self.store.get_video(video_id)
        last = min(frame + count, video.frame_count - 1)
        if count < 1 or not 0 <= frame < video.frame_count - 1:
            raise StorageError(f"propagate needs a frame before the last one and a count >= 1 (frame {frame}, "
                               f"count {count}, the video has {video.frame_count} frames)")
        tracker = tracker or Tracker(TrackerConfig(rate=video.fps or 30.0))
        seeds = [b for b in self.store.boxes_at(video_id, frame) if b.track_id is not None]
        ours = _seed(tracker, seeds)  # tracker id -> project track id
        found: list[tuple[int, int, str, BBox, float]] = []  # frame, tracker id, class, box, score
        for index in range(frame + 1, last + 1):
            # a copy: the cached frame is read-only and shared, a detector may write into its input
            tracked = tracker.update(detector(self.frame(video_id, index).copy())).confirmed()
            xywh = tracked.detections.xywh.tolist()
            for tid, name, box, score in zip(tracked.track_ids.tolist(), tracked.detections.names, xywh,
                                             tracked.detections.scores.tolist(), strict=True):
                if score >= min_score and name != BACKGROUND:
                    found.append((index, int(tid), name, tuple(box), float(score)))  # type: ignore[arg-type]
        with self.store.change() as ch:
            # Classes before any frame is locked (the lock order of storage/team.py).
            classes = {name: self.repo._category_id(ch.s, name) for name in sorted({f[2] for f in found})}
            row = self.store.video_row(ch.s, video_id)
            keyframes = {(b.track_id, b.frame) for b in self.store.stored_boxes(video_id) if b.keyframe}
            new_tracks: dict[int, int] = {}
            last_seen: dict[int, int] = {}
            for index, tid, name, box, score in found:
                track_id = ours.get(tid) or new_tracks.get(tid)
                if track_id is None:
                    track_id = new_tracks[tid] = ch.new_track(video_id, classes[name], MODEL_TRACK)
                if (track_id, index) in keyframes:
                    continue
                ch.put_box(row, index, clamp_bbox(box, row.width, row.height),
                           category_id=ch.track_row(track_id).category_id, track_id=track_id, keyframe=False,
                           status=Status.PREDICTED, origin=Origin.MODEL, score=score,
                           model_version_id=model_version_id)
                last_seen[track_id] = index
            for track_id in new_tracks.values():
                if track_id in last_seen and last_seen[track_id] + 1 < row.frame_count:
                    ch.set_end(track_id, last_seen[track_id] + 1)
            return self._edit(f"Propagate {last - frame} frames", video_id, frame, ch)

    # --- undo --------------------------------------------------------------------------------------

    def undo(self, edit: VideoEdit) -> None:
        self.store.restore(list(zip(edit.track_ids, edit.tracks_before, strict=True)),
                           list(zip(edit.box_ids, edit.boxes_before, strict=True)))

    def redo(self, edit: VideoEdit) -> None:
        self.store.restore(list(zip(edit.track_ids, edit.tracks_after, strict=True)),
                           list(zip(edit.box_ids, edit.boxes_after, strict=True)))

    # --- internals ---------------------------------------------------------------------------------

    def _status(self, box_id: int, status: str, text: str) -> VideoEdit:
        with self.store.change() as ch:
            before = self._stored(ch, box_id)
            ch.set_status(box_id, status)
            return self._edit(text, before.video_id, before.frame, ch)

    @staticmethod
    def _box(bbox: Sequence[float], width: int, height: int) -> BBox:
        return clamp_bbox(_check_bbox(bbox), width, height)

    @staticmethod
    def _stored(ch: VideoChange, box_id: int) -> FrameBoxRecord:
        row = ch.s.execute(box_query().where(Annotation.id == box_id)).first()
        if row is None:
            raise StorageError(f"box {box_id} is not a box on a video frame of the project")
        return box_record(row)

    def _track_boxes(self, video_id: int, track_id: int) -> list[FrameBoxRecord]:
        return [b for b in self.store.stored_boxes(video_id) if b.track_id == track_id]

    def _stored_at(self, ch: VideoChange, video_id: int, track_id: int, frame: int) -> FrameBoxRecord | None:
        return next((b for b in self._track_boxes(video_id, track_id) if b.frame == frame), None)

    @staticmethod
    def _edit(text: str, video_id: int, frame: int, ch: VideoChange) -> VideoEdit:
        tracks_before, tracks_after, boxes_before, boxes_after = ch.result()
        return VideoEdit(text, video_id, frame, ch.track_ids, tracks_before, tracks_after, ch.box_ids,
                         boxes_before, boxes_after)


def _seed(tracker: Tracker, seeds: Sequence[FrameBox]) -> dict[int, int]:
    """Give the tracker the boxes shown at the start frame (score 1) so it continues their tracks."""
    if not seeds:
        return {}
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (b.bbox for b in seeds)], np.float32)
    tracked = tracker.update(Detections(boxes, np.ones(len(seeds)), np.zeros(len(seeds))))
    return {int(t): int(b.track_id) for t, b in zip(tracked.track_ids.tolist(), seeds, strict=True)
            if t != NO_TRACK and b.track_id is not None}
