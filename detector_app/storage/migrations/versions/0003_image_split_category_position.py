"""Keep each image's train/val/test split and the user's order of the class list.

Datasets arrive split (Ultralytics, COCO per-split files) and exports should give the split back; the class
list is ordered by the user (number keys follow it) instead of by COCO id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("images", sa.Column("split", sa.String(8), nullable=True))
    op.add_column("categories", sa.Column("position", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("position")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("split")
