"""Provenance of every box, review time per image, and who made each edit.

- ``annotations.proposal_*``: the model's box, class and score as proposed, kept when a person moves,
  relabels or rejects it, so the correction (``core.provenance.correction_action``) can be told afterwards.
- ``review_times``: active seconds a person spent on an image (open to done, idle gaps left out), with the
  model version whose proposals were on screen.
- ``annotations.revision`` / ``updated_by`` and ``images.reviewed_by`` / ``claimed_by`` / ``claimed_at``:
  several annotators on one project (optimistic edits, "next image for me").

Existing model boxes that are still as proposed (predicted, accepted, rejected) get their proposal filled
from their current box; a box already ``corrected`` keeps none, since its proposal was not recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_PROPOSAL = ("proposal_x", "proposal_y", "proposal_w", "proposal_h")


def upgrade() -> None:
    for name in _PROPOSAL:
        op.add_column("annotations", sa.Column(name, sa.Float(), nullable=True))
    op.add_column("annotations", sa.Column("proposal_category_id", sa.Integer(), nullable=True))
    op.add_column("annotations", sa.Column("proposal_score", sa.Float(), nullable=True))
    op.add_column("annotations", sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("annotations", sa.Column("updated_by", sa.String(), nullable=True))
    op.add_column("images", sa.Column("reviewed_by", sa.String(), nullable=True))
    op.add_column("images", sa.Column("claimed_by", sa.String(), nullable=True))
    op.add_column("images", sa.Column("claimed_at", sa.DateTime(), nullable=True))
    op.create_table(
        "review_times",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_id", sa.Integer(), sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model_version_id", sa.Integer(), sa.ForeignKey("model_versions.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("annotator", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.CheckConstraint("seconds >= 0", name="ck_review_times_seconds"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_review_times_image", "review_times", ["image_id"])
    op.create_index("ix_review_times_model_version", "review_times", ["model_version_id"])
    op.execute(
        "UPDATE annotations SET proposal_x = x, proposal_y = y, proposal_w = w, proposal_h = h,"
        " proposal_category_id = category_id, proposal_score = score"
        " WHERE origin = 'model' AND status IN ('predicted', 'accepted', 'rejected')"
    )


def downgrade() -> None:
    op.drop_index("ix_review_times_model_version", table_name="review_times")
    op.drop_index("ix_review_times_image", table_name="review_times")
    op.drop_table("review_times")
    with op.batch_alter_table("images") as batch:
        for name in ("claimed_at", "claimed_by", "reviewed_by"):
            batch.drop_column(name)
    with op.batch_alter_table("annotations") as batch:
        for name in ("updated_by", "revision", "proposal_score", "proposal_category_id", *reversed(_PROPOSAL)):
            batch.drop_column(name)
