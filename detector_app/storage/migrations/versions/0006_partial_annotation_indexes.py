"""The indexes on ``annotations.model_version_id`` and ``annotations.track_id`` hold only the boxes that have one.

Most boxes have neither (every imported or drawn box lacks a model version; every box outside a video task lacks
a track), and a full index still writes an entry for each NULL: a COCO import of 1,000,000 boxes spent about a
fifth of SQLite's insert time on these two indexes (benchmarks/bench_storage.py, issue 16). Every query that
uses them asks for one value (``= :id``: the stats and report of a version, a track's boxes, the ON DELETE
actions of ``model_versions`` and ``tracks``), which a partial index ``WHERE ... IS NOT NULL`` answers on
SQLite and PostgreSQL alike. Nothing else changes; no row is touched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_INDEXES = (("ix_annotations_model_version", "model_version_id"), ("ix_annotations_track", "track_id"))


def upgrade() -> None:
    for name, column in _INDEXES:
        op.drop_index(name, table_name="annotations")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "annotations", [column], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, column in _INDEXES:
        op.drop_index(name, table_name="annotations")
        op.create_index(name, "annotations", [column])
