"""The team load test, short (issue 16): 4 annotator processes edit one PostgreSQL project for 8 s (accept, move,
draw, relabel, undo) on a few images, so that they meet on the same boxes; the database must equal the replay
of what the server acknowledged to each of them: nothing lost, nothing duplicated, stale edits refused and
counted, no other error (a deadlock above all). The full run is benchmarks/bench_team.py (8 x 60 s)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from benchmarks import bench_team

from .pg_server import PostgresServer


@pytest.mark.postgres
def test_four_annotators_for_eight_seconds_lose_nothing(postgres_server: PostgresServer, tmp_path: Path) -> None:
    name = f"test_team_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    try:
        result = bench_team.run(url, tmp_path, clients=4, seconds=8.0, images=3, boxes=2, think_ms=40.0)
    finally:
        postgres_server.drop_database(name)
    assert result["errors"] == 0, result["error_messages"]
    assert (result["lost"], result["duplicated"], result["unexplained"]) == (0, 0, 0)
    assert result["acknowledged"] >= 20  # the clients did work (about 10 edits/s on a loaded 2-core machine)
    assert result["stale_refused"] > 0  # they met on the same boxes, and the later edit was refused
    assert set(result["boxes_last_edited_by"]) <= {f"annotator{i}" for i in range(4)}
