"""SQLAlchemy 2 ORM schema of a project database (the head revision of the Alembic migrations).

Changing anything here needs a new revision in ``migrations/versions``; ``tests/test_storage_migrations.py``
checks that the migrated schema and this metadata agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from detector_app.core.labels import ORIGINS, STATUSES

# The values come from the label model; the check constraints below are what the migrations created.
ANNOTATION_ORIGINS = ORIGINS
IMAGE_ORIGINS = ("file", "video", "webcam")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# COCO ids are 64-bit (real COCO annotation ids reach 900,100,087,038; the file checks allow up to 2**63 - 1):
# BIGINT on PostgreSQL (revision 0007), where INTEGER stops at 2**31 - 1; SQLite's INTEGER is 64-bit already.
COCO_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        CheckConstraint(_in("origin", IMAGE_ORIGINS), name="ck_images_origin"),
        CheckConstraint("width > 0 AND height > 0", name="ck_images_size"),
        Index("ix_images_reviewed_at", "reviewed_at"),
        Index("ix_images_video_frame", "video_path", "frame_index"),
        {"sqlite_autoincrement": True},  # ids are never reused: the GUI and undo snapshots hold them
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # POSIX path relative to the project folder when the file lies inside it, else absolute.
    path: Mapped[str] = mapped_column(String, unique=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(16), default="file")
    video_path: Mapped[str | None] = mapped_column(String)
    frame_index: Mapped[int | None] = mapped_column(Integer)
    reviewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Id of the image in the COCO file it was imported from, reused by exports (revision 0002).
    coco_id: Mapped[int | None] = mapped_column(COCO_ID)
    # train / val / test as the user or an imported dataset chose it; NULL when none (revision 0003).
    split: Mapped[str | None] = mapped_column(String(8))
    # Who marked it reviewed, and who holds it for review now ("next image for me") since when (revision 0004).
    reviewed_by: Mapped[str | None] = mapped_column(String)
    claimed_by: Mapped[str | None] = mapped_column(String)
    claimed_at: Mapped[datetime | None]


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    # Category id in COCO exports: kept from imports, never renumbered.
    coco_id: Mapped[int] = mapped_column(COCO_ID, unique=True)
    color: Mapped[str] = mapped_column(String(9))
    supercategory: Mapped[str] = mapped_column(String, default="")
    # Place in the user's class list (number keys follow it); NULL sorts after, by coco_id (revision 0003).
    position: Mapped[int | None] = mapped_column(Integer)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        # At most one active version, enforced by the database itself.
        Index("ux_model_versions_active", "is_active", unique=True, sqlite_where=text("is_active = 1"),
              postgresql_where=text("is_active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String)
    preset: Mapped[str] = mapped_column(String)
    class_names: Mapped[list[str]]
    weights_path: Mapped[str | None] = mapped_column(String)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Annotation(Base):
    __tablename__ = "annotations"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="ck_annotations_status"),
        CheckConstraint(_in("origin", ANNOTATION_ORIGINS), name="ck_annotations_origin"),
        Index("ix_annotations_image_status", "image_id", "status"),
        Index("ix_annotations_category_image", "category_id", "image_id"),
        # Only boxes that have one (migration 0006): most have neither, and an import paid for the NULLs.
        Index("ix_annotations_model_version", "model_version_id", sqlite_where=text("model_version_id IS NOT NULL"),
              postgresql_where=text("model_version_id IS NOT NULL")),
        Index("ix_annotations_track", "track_id", sqlite_where=text("track_id IS NOT NULL"),
              postgresql_where=text("track_id IS NOT NULL")),
        # Never reuse a deleted id: restore_annotation() (undo) writes a snapshot back under its old id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    origin: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    iscrowd: Mapped[int] = mapped_column(Integer, default=0)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Id of the annotation in the COCO file it was imported from (revision 0002).
    coco_id: Mapped[int | None] = mapped_column(COCO_ID)
    # The model's proposal as it was (revision 0004): kept when a person moves, relabels or rejects the box, so
    # core.provenance.correction_action can tell what they did. NULL for drawn boxes and for boxes corrected
    # before provenance was recorded. proposal_category_id has no foreign key: it outlives a deleted class.
    proposal_x: Mapped[float | None] = mapped_column(Float)
    proposal_y: Mapped[float | None] = mapped_column(Float)
    proposal_w: Mapped[float | None] = mapped_column(Float)
    proposal_h: Mapped[float | None] = mapped_column(Float)
    proposal_category_id: Mapped[int | None] = mapped_column(Integer)
    proposal_score: Mapped[float | None] = mapped_column(Float)
    # Bumped by every change: an edit based on an older revision is refused (several annotators, revision 0004).
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    updated_by: Mapped[str | None] = mapped_column(String)
    # The track a box belongs to, and whether a person placed it (a keyframe) or a tracker proposed it (0005).
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id"))  # no cascade: boxes go first
    keyframe: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Video(Base):
    """A video labelled in place: frames are referenced by (video, index), see migration 0005."""

    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint("frame_count > 0 AND width > 0 AND height > 0", name="ck_videos_size"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)  # stored as images.path is
    frame_count: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Track(Base):
    """One object followed through a video; ``ended_at_frame`` is the first frame it is gone (NULL: open)."""

    __tablename__ = "tracks"
    __table_args__ = (
        Index("ix_tracks_video", "video_id"),
        {"sqlite_autoincrement": True},  # undo writes a deleted track back under its id
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    ended_at_frame: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewTime(Base):
    """Active time a person spent on one image, open to done, idle gaps over a minute left out (revision 0004)."""

    __tablename__ = "review_times"
    __table_args__ = (
        CheckConstraint("seconds >= 0", name="ck_review_times_seconds"),
        Index("ix_review_times_image", "image_id"),
        Index("ix_review_times_model_version", "model_version_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    # The version whose proposals were on the image when the review began; NULL when there were none.
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    annotator: Mapped[str | None] = mapped_column(String)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    seconds: Mapped[float] = mapped_column(Float)


class TrainingRun(Base):
    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16))
    log: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


__all__ = ["Annotation", "Base", "Category", "Image", "ModelVersion", "ReviewTime", "Track", "TrainingRun",
           "UTCDateTime", "Video", "utcnow"]
