"""One change to a video task, inside one write transaction, with the snapshots that undo and redo it.

Every row it touches is read before its first change (None when the change creates it) and again when the
change ends (None when it deleted it): ``before`` and ``after`` are what ``VideoStore.restore`` writes back.
A frame gets its ``images`` row with its first box and loses it with its last one (migration 0005).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from detector_app.core.labels import Origin, Status
from detector_app.errors import StorageError
from detector_app.storage.models import Annotation, Category, Image, Track, Video, utcnow
from detector_app.storage.repository import Repository
from detector_app.storage.team import lock_image, lock_images_of, mark_edited
from detector_app.storage.video_records import BBox, FrameBoxRecord, TrackRecord

BOX_COLUMNS = (Annotation.id, Annotation.image_id, Video.id.label("video_id"), Image.frame_index,
               Annotation.track_id, Annotation.category_id, Category.name, Annotation.x, Annotation.y,
               Annotation.w, Annotation.h, Annotation.score, Annotation.origin, Annotation.status,
               Annotation.keyframe, Annotation.model_version_id, Annotation.created_at)
TRACK_COLUMNS = (Track.id, Track.video_id, Track.category_id, Category.name, Track.ended_at_frame, Track.created_by,
                 Track.created_at)


def box_query() -> Any:
    return (select(*BOX_COLUMNS).join(Image, Image.id == Annotation.image_id)
            .join(Video, Video.path == Image.video_path).join(Category, Category.id == Annotation.category_id))


def track_query() -> Any:
    return select(*TRACK_COLUMNS).join(Category, Category.id == Track.category_id)


def box_record(row: Any) -> FrameBoxRecord:
    return FrameBoxRecord(row.id, row.image_id, row.video_id, row.frame_index, row.track_id, row.category_id,
                          row.name, (row.x, row.y, row.w, row.h), row.score, row.origin, row.status,
                          bool(row.keyframe), row.model_version_id, row.created_at)


def track_record(row: Any) -> TrackRecord:
    return TrackRecord(row.id, row.video_id, row.category_id, row.name, row.ended_at_frame, row.created_by,
                       row.created_at)


def frame_path(video_stored_path: str, frame: int) -> str:
    """The synthetic, unique ``images.path`` of a labelled frame (never a file that is written)."""
    return f"{video_stored_path}.frames/{frame:07d}.png"


class VideoChange:
    """The operations of one transaction ``s``; see the module docstring for the snapshots."""

    def __init__(self, s: Session, repo: Repository) -> None:
        self.s = s
        self.repo = repo  # its review rule is applied after each box change
        self._tracks: dict[int, TrackRecord | None] = {}
        self._boxes: dict[int, FrameBoxRecord | None] = {}

    # --- tracks ------------------------------------------------------------------------------------

    def new_track(self, video_id: int, category_id: int, created_by: str | None, track_id: int | None = None) -> int:
        track = Track(id=track_id, video_id=video_id, category_id=category_id, created_by=created_by,
                      created_at=utcnow())
        self.s.add(track)
        self.s.flush()
        self._tracks.setdefault(track.id, None)
        return track.id

    def set_end(self, track_id: int, frame: int | None) -> None:
        self._note_track(track_id)
        self.track_row(track_id).ended_at_frame = frame

    def set_track_category(self, track_id: int, category_id: int) -> None:
        """The track and every box stored on it (rejected ones too) get the class; images locked first, in id
        order, as every bulk change of boxes does."""
        self._note_track(track_id)
        on_track = Annotation.track_id == track_id
        lock_images_of(self.s, on_track)
        self.track_row(track_id).category_id = category_id
        for ann in self.s.scalars(select(Annotation).where(on_track).order_by(Annotation.id)):
            self._note_box(ann.id)
            ann.category_id, ann.updated_at = category_id, utcnow()
            mark_edited(ann, self.repo.annotator)
        self.s.flush()

    def delete_track(self, track_id: int) -> None:
        """A track without boxes (its boxes are deleted first)."""
        self._note_track(track_id)
        self.s.execute(delete(Track).where(Track.id == track_id))

    def track_row(self, track_id: int) -> Track:
        track = self.s.get(Track, track_id)
        if track is None:
            raise StorageError(f"track {track_id} is not in the project")
        return track

    # --- boxes -------------------------------------------------------------------------------------

    def put_box(self, video: Video, frame: int, bbox: BBox, *, category_id: int, track_id: int | None,
                keyframe: bool, status: str, origin: str, score: float | None = None,
                model_version_id: int | None = None, box_id: int | None = None, image_id: int | None = None) -> int:
        """Store a box at ``frame``; a track's box already stored at that frame is overwritten (one per frame)."""
        if not 0 <= frame < video.frame_count:
            raise StorageError(f"frame {frame} is outside the video (frames 0 to {video.frame_count - 1})")
        frame_image = self._frame_image(video, frame, image_id)
        lock_image(self.s, frame_image)  # image, then box: the lock order of every box edit (storage/team.py)
        ann = None
        if box_id is not None:
            ann = self.s.get(Annotation, box_id)
        elif track_id is not None:
            ann = self.s.scalar(select(Annotation).where(Annotation.track_id == track_id,
                                                         Annotation.image_id == frame_image))
        now = utcnow()
        if ann is None:
            ann = Annotation(id=box_id, created_at=now, iscrowd=0)
            if origin == Origin.MODEL:  # the proposal as made, kept beside the box (schema 0004)
                ann.proposal_x, ann.proposal_y, ann.proposal_w, ann.proposal_h = bbox
                ann.proposal_category_id, ann.proposal_score = category_id, score
            self.s.add(ann)
        else:
            self._note_box(ann.id)
        old_image = ann.image_id
        ann.image_id, ann.category_id, ann.track_id, ann.keyframe = frame_image, category_id, track_id, keyframe
        ann.x, ann.y, ann.w, ann.h = bbox
        ann.status, ann.origin, ann.score, ann.model_version_id = status, origin, score, model_version_id
        ann.updated_at = now
        mark_edited(ann, self.repo.annotator)
        self.s.flush()
        self._boxes.setdefault(ann.id, None)
        self.repo._after_edit(self.s, frame_image, by_person=status != Status.PREDICTED, status=status)
        if old_image is not None and old_image != frame_image:
            self._drop_empty_frame(old_image)
        return ann.id

    def set_status(self, box_id: int, status: str) -> None:
        ann = self._box_row(box_id)
        lock_image(self.s, ann.image_id)
        self._note_box(box_id)
        ann.status, ann.updated_at = status, utcnow()
        mark_edited(ann, self.repo.annotator)
        self.s.flush()
        self.repo._after_edit(self.s, ann.image_id, by_person=True, status=status)

    def delete_box(self, box_id: int) -> None:
        ann = self._box_row(box_id)
        lock_image(self.s, ann.image_id)
        self._note_box(box_id)
        image_id = ann.image_id
        self.s.execute(delete(Annotation).where(Annotation.id == box_id))
        self.repo._after_edit(self.s, image_id, by_person=True, status=None)
        self._drop_empty_frame(image_id)

    def restore_box(self, snap: FrameBoxRecord, video: Video) -> None:
        self.put_box(video, snap.frame, snap.bbox, category_id=self._category(snap.category_id, snap.category_name),
                     track_id=snap.track_id, keyframe=snap.keyframe, status=snap.status, origin=snap.origin,
                     score=snap.score, model_version_id=snap.model_version_id, box_id=snap.id,
                     image_id=snap.image_id)

    # --- snapshots ---------------------------------------------------------------------------------

    @property
    def track_ids(self) -> tuple[int, ...]:
        return tuple(self._tracks)

    @property
    def box_ids(self) -> tuple[int, ...]:
        return tuple(self._boxes)

    def result(self) -> tuple[tuple[TrackRecord | None, ...], tuple[TrackRecord | None, ...],
                              tuple[FrameBoxRecord | None, ...], tuple[FrameBoxRecord | None, ...]]:
        """(tracks before, tracks after, boxes before, boxes after), aligned by row, read at the end."""
        self.s.flush()
        tracks_after = {r.id: track_record(r)
                        for r in self.s.execute(track_query().where(Track.id.in_(list(self._tracks))))}
        boxes_after: dict[int, FrameBoxRecord] = {}
        ids = list(self._boxes)
        for start in range(0, len(ids), 500):
            query = box_query().where(Annotation.id.in_(ids[start:start + 500]))
            boxes_after.update((r.id, box_record(r)) for r in self.s.execute(query))
        return (tuple(self._tracks.values()), tuple(tracks_after.get(i) for i in self._tracks),
                tuple(self._boxes.values()), tuple(boxes_after.get(i) for i in ids))

    def _note_track(self, track_id: int) -> None:
        if track_id not in self._tracks:
            row = self.s.execute(track_query().where(Track.id == track_id)).first()
            if row is None:
                raise StorageError(f"track {track_id} is not in the project")
            self._tracks[track_id] = track_record(row)

    def _note_box(self, box_id: int) -> None:
        if box_id not in self._boxes:
            row = self.s.execute(box_query().where(Annotation.id == box_id)).first()
            if row is None:
                raise StorageError(f"box {box_id} is not a box on a video frame of the project")
            self._boxes[box_id] = box_record(row)

    # --- internals ---------------------------------------------------------------------------------

    def _box_row(self, box_id: int) -> Annotation:
        ann = self.s.get(Annotation, box_id)
        if ann is None:
            raise StorageError(f"box {box_id} is not in the project")
        return ann

    def _category(self, category_id: int, name: str) -> int:
        if self.s.get(Category, category_id) is not None:
            return category_id
        found = self.s.scalar(select(Category.id).where(Category.name == name))
        if found is None:
            raise StorageError(f"class {name!r} is no longer in the project; add it again to undo")
        return int(found)

    def _frame_image(self, video: Video, frame: int, image_id: int | None) -> int:
        path = frame_path(video.path, frame)
        found = self.s.scalar(select(Image.id).where(Image.path == path))
        if found is not None:
            return int(found)
        image = Image(id=image_id, path=path, content_hash=None, width=video.width, height=video.height,
                      origin="video", video_path=video.path, frame_index=frame, created_at=utcnow())
        self.s.add(image)
        self.s.flush()
        return image.id

    def _drop_empty_frame(self, image_id: int) -> None:
        """A frame's synthetic row goes with its last box (a captured frame's file row is never dropped)."""
        image = self.s.get(Image, image_id)
        if image is None or image.video_path is None or image.frame_index is None:
            return
        if image.path != frame_path(image.video_path, image.frame_index):
            return
        if not self.s.scalar(select(func.count(Annotation.id)).where(Annotation.image_id == image_id)):
            self.s.delete(image)
            self.s.flush()


def human_box(existing_origin: str | None, moved: bool) -> tuple[str, str]:
    """(origin, status) of a box a person places: a model's box they moved is corrected, one they kept as it
    was is accepted, their own is accepted."""
    if existing_origin == Origin.MODEL:
        return Origin.MODEL.value, (Status.CORRECTED if moved else Status.ACCEPTED).value
    return Origin.HUMAN.value, Status.ACCEPTED.value
