"""Videos as labelling tasks: the videos of a project, their tracks, and the boxes each frame shows.

A video is one ``videos`` row, whatever its length; a frame gets an ``images`` row only with its first stored
box (migration 0005). What a frame shows comes from ``core.tracks``: each track's stored boxes (anchors),
interpolated in between. Changes go through :meth:`VideoStore.change` (one transaction, with undo snapshots);
``review.video_edits`` builds the user's operations on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, bindparam, func, select, union_all
from sqlalchemy.orm import Session

from detector_app.core.labels import Status, counts_as_label
from detector_app.core.tracks import Anchor, BoxKind, box_at, boxes_between, keyframes, live_anchors, span
from detector_app.errors import StorageError
from detector_app.storage.models import Annotation, Image, Track, Video, utcnow
from detector_app.storage.repository import Repository
from detector_app.storage.video_change import (
    VideoChange,
    box_query,
    box_record,
    track_query,
    track_record,
)
from detector_app.storage.video_records import FrameBox, FrameBoxRecord, TrackLine, TrackRecord, VideoRecord

if TYPE_CHECKING:  # cv2 and numpy only where frames are decoded: an export reads video tasks without them
    from detector_app.sources.frame_cache import VideoInfo

_VIDEO_COLUMNS = (Video.id, Video.path, Video.frame_count, Video.fps, Video.width, Video.height, Video.fingerprint)
_BOXES_OF_VIDEO = box_query().where(Video.id == bindparam("video_id")).order_by(Image.frame_index, Annotation.id)
_TRACKS_OF_VIDEO = track_query().where(Track.video_id == bindparam("video_id")).order_by(Track.id)


def _anchor_frames(aggregate: Any, where: Any) -> Any:
    """Per track of a video, the frame of its nearest anchor on one side of ``:frame``."""
    return (select(aggregate(Image.frame_index)).join(Annotation, Annotation.image_id == Image.id)
            .where(Image.video_path == bindparam("video_path"), where, Annotation.track_id.is_not(None),
                   Annotation.status != Status.REJECTED.value)
            .group_by(Annotation.track_id))


# The boxes on the frame itself and on each track's nearest anchors around it: one statement per step.
_BOXES_AROUND = (box_query().where(Video.id == bindparam("video_id"), Image.frame_index.in_(union_all(
    select(bindparam("frame", type_=Integer)), _anchor_frames(func.max, Image.frame_index <= bindparam("frame")),
    _anchor_frames(func.min, Image.frame_index > bindparam("frame")))))
    .order_by(Image.frame_index, Annotation.id))


class VideoStore:
    """The video tasks of the project behind ``repo``. Thread-safe as the repository is (short sessions)."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._videos: dict[int, VideoRecord] = {}

    # --- videos ------------------------------------------------------------------------------------

    def add_video(self, info: VideoInfo) -> VideoRecord:
        """The video task for ``info.path``, added when new (one row, no frame copied). A file at a known path
        whose content changed is refused: its boxes would land on other frames."""
        stored = self.repo.stored_path(info.path)
        with self.repo.transaction() as s:
            video = s.scalar(select(Video).where(Video.path == stored))
            if video is None:
                video = Video(path=stored, frame_count=info.frame_count, fps=info.fps, width=info.width,
                              height=info.height, fingerprint=info.fingerprint, created_at=utcnow())
                s.add(video)
                s.flush()
            elif video.fingerprint != info.fingerprint:
                raise StorageError(f"{info.path} is not the video this project labelled (its content changed); "
                                   "restore the original file or add the new one under another name")
            return self._video_record(video)

    def get_video(self, video_id: int) -> VideoRecord:
        """The video task (kept once read: a video row never changes after it is added)."""
        found = self._videos.get(video_id)
        if found is None:
            with self.repo.reading() as s:
                found = self._videos[video_id] = self._video_record(self._video(s, video_id))
        return found

    def videos(self) -> list[VideoRecord]:
        with self.repo.reading() as s:
            return [self._video_record(v) for v in s.scalars(select(Video).order_by(Video.id))]

    # --- reading -----------------------------------------------------------------------------------

    def tracks(self, video_id: int) -> list[TrackRecord]:
        with self.repo._connect() as conn:
            return [track_record(r) for r in conn.execute(_TRACKS_OF_VIDEO, {"video_id": video_id})]

    def get_track(self, track_id: int) -> TrackRecord:
        with self.repo.reading() as s:
            row = s.execute(track_query().where(Track.id == track_id)).first()
        if row is None:
            raise StorageError(f"track {track_id} is not in the project")
        return track_record(row)

    def stored_boxes(self, video_id: int) -> list[FrameBoxRecord]:
        """Every box stored on the video's frames (rejected ones too), by frame."""
        with self.repo._connect() as conn:
            return [box_record(r) for r in conn.execute(_BOXES_OF_VIDEO, {"video_id": video_id})]

    def anchors(self, video_id: int) -> dict[int, list[Anchor]]:
        """Track id -> its anchors (stored boxes that are not rejected) by frame; every track present."""
        return _anchors(self.tracks(video_id), self.stored_boxes(video_id))

    def boxes_at(self, video_id: int, frame: int) -> list[FrameBox]:
        """What frame ``frame`` shows: the stored boxes on it (rejected ones left out) and each live track's
        interpolated box, ordered by track (plain boxes last). Reads only the anchors around ``frame`` (the
        last one at or before it and the first one after it, per track): a step costs the same whatever the
        number of keyframes."""
        video = self.get_video(video_id)
        _check_frame(video, frame)
        with self.repo._connect() as conn:
            tracks = [track_record(r) for r in conn.execute(_TRACKS_OF_VIDEO, {"video_id": video_id})]
            rows = conn.execute(_BOXES_AROUND, {"video_id": video_id, "video_path": video.stored_path,
                                                "frame": frame})
            stored = [box_record(r) for r in rows]
        anchors = _anchors(tracks, [b for b in stored if b.frame != frame or b.track_id is not None])
        by_id = {b.id: b for b in stored}
        out: list[FrameBox] = []
        for track in tracks:
            shown = box_at(anchors[track.id], frame, track.ended_at_frame, video.frame_count)
            if shown is None:
                continue
            record = by_id.get(shown.annotation_id) if shown.annotation_id is not None else None
            out.append(FrameBox(frame, shown.bbox, shown.kind, track.category_name, track.id, shown.annotation_id,
                                record.status if record else None, shown.is_label,
                                record.score if record else None))
        out.extend(FrameBox(frame, b.bbox, BoxKind.PLAIN, b.category_name, None, b.id, b.status,
                            counts_as_label(b.status, b.origin), b.score)
                   for b in stored if b.frame == frame and b.track_id is None and b.status != Status.REJECTED)
        return out

    def timeline(self, video_id: int) -> list[TrackLine]:
        """Each track: where it lives, its keyframes and its proposals (for the timeline under the frame)."""
        video = self.get_video(video_id)
        tracks = self.tracks(video_id)
        anchors = _anchors(tracks, self.stored_boxes(video_id))
        lines = []
        for track in tracks:
            mine = anchors[track.id]
            live = live_anchors(mine, track.ended_at_frame)
            lines.append(TrackLine(track, span(mine, track.ended_at_frame, video.frame_count),
                                   tuple(keyframes(mine, track.ended_at_frame)),
                                   tuple(a.frame for a in live if not a.keyframe)))
        return lines

    def track_boxes(self, video_id: int) -> dict[int, list[FrameBox]]:
        """Frame -> every box it shows (interpolated ones included), for the frames that show any: what an
        export writes. One pass per track, not a query per frame."""
        video = self.get_video(video_id)
        tracks = self.tracks(video_id)
        stored = self.stored_boxes(video_id)
        anchors = _anchors(tracks, stored)
        by_id = {b.id: b for b in stored}
        frames: dict[int, list[FrameBox]] = {}
        for track in tracks:
            for shown in boxes_between(anchors[track.id], 0, video.frame_count, track.ended_at_frame,
                                       video.frame_count):
                record = by_id.get(shown.annotation_id) if shown.annotation_id is not None else None
                frames.setdefault(shown.frame, []).append(
                    FrameBox(shown.frame, shown.bbox, shown.kind, track.category_name, track.id, shown.annotation_id,
                             record.status if record else None, shown.is_label, record.score if record else None))
        for b in stored:
            if b.track_id is None and b.status != Status.REJECTED:
                frames.setdefault(b.frame, []).append(
                    FrameBox(b.frame, b.bbox, BoxKind.PLAIN, b.category_name, None, b.id, b.status,
                             counts_as_label(b.status, b.origin), b.score))
        return dict(sorted(frames.items()))

    # --- changing ----------------------------------------------------------------------------------

    @contextmanager
    def change(self) -> Iterator[VideoChange]:
        """One write transaction; ``VideoChange.result()`` inside it gives the undo snapshots."""
        with self.repo.transaction() as s:
            yield VideoChange(s, self.repo)

    def video_row(self, s: Session, video_id: int) -> Video:
        return self._video(s, video_id)

    def restore(self, tracks: Sequence[tuple[int, TrackRecord | None]],
                boxes: Sequence[tuple[int, FrameBoxRecord | None]]) -> None:
        """Write snapshots back in one transaction (undo/redo): each (id, wanted) pair makes the row with that
        id look like ``wanted``, or deletes it when ``wanted`` is None. Tracks come back before their boxes and
        go after them."""
        with self.repo.transaction() as s:
            change = VideoChange(s, self.repo)
            for track_id, wanted in tracks:
                if wanted is not None:
                    self._restore_track(s, change, track_id, wanted)
            for box_id, wanted_box in boxes:
                if wanted_box is None:
                    if s.get(Annotation, box_id) is not None:
                        change.delete_box(box_id)
                else:
                    change.restore_box(wanted_box, self._video(s, wanted_box.video_id))
            for track_id, wanted in tracks:
                if wanted is None and s.get(Track, track_id) is not None:
                    change.delete_track(track_id)

    # --- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _restore_track(s: Session, change: VideoChange, track_id: int, wanted: TrackRecord) -> None:
        track = s.get(Track, track_id)
        if track is None:
            change.new_track(wanted.video_id, wanted.category_id, wanted.created_by, track_id=track_id)
            track = change.track_row(track_id)
        track.category_id, track.ended_at_frame = wanted.category_id, wanted.ended_at_frame
        s.flush()

    def _video_record(self, video: Any) -> VideoRecord:
        return VideoRecord(video.id, self.repo.absolute_path(video.path), video.path, video.frame_count, video.fps,
                           video.width, video.height, video.fingerprint)

    @staticmethod
    def _video(s: Session, video_id: int) -> Video:
        video = s.get(Video, video_id)
        if video is None:
            raise StorageError(f"video {video_id} is not in the project")
        return video


def _anchors(tracks: Sequence[TrackRecord], stored: Sequence[FrameBoxRecord]) -> dict[int, list[Anchor]]:
    out: dict[int, list[Anchor]] = {t.id: [] for t in tracks}
    for b in stored:  # by frame: the store keeps one box per track and frame
        if b.track_id is not None and b.status != Status.REJECTED and b.track_id in out:
            out[b.track_id].append(Anchor(b.frame, b.bbox, b.keyframe, counts_as_label(b.status, b.origin), b.id))
    return out


def _check_frame(video: VideoRecord, frame: int) -> None:
    if not 0 <= frame < video.frame_count:
        raise StorageError(f"frame {frame} is outside the video (frames 0 to {video.frame_count - 1})")
