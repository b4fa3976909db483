"""Videos as labelling tasks, object tracks, and track boxes.

- ``videos``: a video added for labelling, referenced in place (never copied): its path stored like
  ``images.path`` (relative inside the project folder, else absolute), frame count, fps, size and a content
  fingerprint (sha256 of its size and first and last MiB) that tells when the file was replaced.
- Frames are referenced by (video, index) and decoded on demand. A frame gets an ``images`` row only when it
  gets its first stored box, so opening a 100,000-frame video inserts one row, not 100,000. That row is an
  ordinary image (origin ``video``, ``video_path`` and ``frame_index`` set, no ``content_hash``) whose unique
  ``path`` is synthetic: ``<video path>.frames/<index, 7 digits>.png``, a file that is never written. Exports,
  review lists and the COCO codec work on it as on any image; copying images decodes the frame from its video
  (``formats.images.copy_images`` already does this for a frame whose file is missing).
- ``tracks``: one object followed through a video (category, ``ended_at_frame``: the first frame it is no
  longer in, NULL while open, and who made it). Ending a track only sets that column and removes the boxes at
  and after it; boxes before it are never touched.
- ``annotations.track_id`` (NULL: a plain box) and ``annotations.keyframe``: true for a box a person placed,
  false for a tracker's proposal. Frames between two stored boxes of a track are interpolated, never stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path", sa.String(), nullable=False, unique=True),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("frame_count > 0 AND width > 0 AND height > 0", name="ck_videos_size"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("category_id", sa.Integer(), sa.ForeignKey("categories.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("ended_at_frame", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tracks_video", "tracks", ["video_id"])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot ALTER a constraint in, but takes an inline REFERENCES on ADD COLUMN (default NULL), which
        # keeps the table as it is (a batch copy would drop its AUTOINCREMENT). No ON DELETE: SQLAlchemy does not
        # reflect it from an inline clause, and a track is deleted only after its boxes (undo of "new track").
        op.execute("ALTER TABLE annotations ADD COLUMN track_id INTEGER REFERENCES tracks (id)")
    else:
        op.add_column("annotations", sa.Column("track_id", sa.Integer(),
                                               sa.ForeignKey("tracks.id"), nullable=True))
    op.add_column("annotations", sa.Column("keyframe", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_annotations_track", "annotations", ["track_id"])


def downgrade() -> None:
    op.drop_index("ix_annotations_track", table_name="annotations")
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("keyframe")
        batch.drop_column("track_id")
    op.drop_index("ix_tracks_video", table_name="tracks")
    op.drop_table("tracks")
    op.drop_table("videos")
