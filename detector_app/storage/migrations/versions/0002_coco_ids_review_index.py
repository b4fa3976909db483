"""Keep COCO image and annotation ids from imports; index images by review state.

Exports reuse the ids a dataset was imported with, so a COCO round trip preserves them. Listing
unreviewed images (the review queue) filters on ``reviewed_at``, which the first schema did not index.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("images", sa.Column("coco_id", sa.Integer(), nullable=True))
    op.add_column("annotations", sa.Column("coco_id", sa.Integer(), nullable=True))
    op.create_index("ix_images_reviewed_at", "images", ["reviewed_at"])


def downgrade() -> None:
    op.drop_index("ix_images_reviewed_at", table_name="images")
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("coco_id")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("coco_id")
