"""COCO ids are 64-bit on PostgreSQL too: ``coco_id`` of images, categories and boxes becomes BIGINT.

Real COCO files carry annotation ids beyond PostgreSQL's INTEGER (the crowd boxes of COCO-tiny reach
900,100,087,038), and the file checks allow ids up to 2**63 - 1 as SQLite stores them: importing such a file
into a team project failed at the first of them. SQLite's INTEGER already holds 64 bits: nothing changes there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = ("images", "categories", "annotations")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.alter_column(table, "coco_id", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:  # fails, as it should, while a stored id needs more than 32 bits
        op.alter_column(table, "coco_id", type_=sa.Integer(), existing_type=sa.BigInteger())
