"""``Box.of`` (core/labels.py), the fast constructor of bulk imports and exports, builds exactly the box that
``Box(...)`` builds: equal, same hash and text, still frozen, and ``dataclasses.replace`` works on it."""

from __future__ import annotations

import dataclasses

import pytest

from detector_app.core.labels import Box, Origin, Status


@pytest.mark.parametrize("fields", [
    ("cat", (1.0, 2.0, 3.5, 4.0), 0, None, Status.ACCEPTED, Origin.HUMAN, 7, None),
    ("dog", (0.0, 0.0, 1e-3, 9e9), 1, 0.25, Status.PREDICTED, Origin.MODEL, None, 3),
])
def test_of_builds_the_box_the_constructor_builds(fields: tuple) -> None:
    fast, plain = Box.of(*fields), Box(*fields)
    assert fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    assert dataclasses.replace(fast, id=99) == dataclasses.replace(plain, id=99)
    assert fast.is_label == plain.is_label and fast.xyxy == plain.xyxy
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.category = "other"  # type: ignore[misc]


def test_of_takes_exactly_the_fields_of_a_box() -> None:
    """A field added to Box must be added to Box.of too, or this fails."""
    names = [f.name for f in dataclasses.fields(Box)]
    assert names == ["category", "bbox", "iscrowd", "score", "status", "origin", "id", "track_id"]
    assert list(Box.of.__annotations__)[:-1] == names  # the last one is the return
