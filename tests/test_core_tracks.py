"""Track logic: interpolation exact at anchors, spans, held boxes, and ending a track without losing its past.

Expected boxes are worked out by hand in the comments.
"""

from __future__ import annotations

import pytest

from detector_app.core.tracks import (
    Anchor,
    BoxKind,
    TrackBox,
    TrackEnd,
    box_at,
    boxes_between,
    check_anchors,
    end_from,
    interpolate,
    keyframes,
    span,
)

A = Anchor(10, (0.0, 0.0, 10.0, 20.0), annotation_id=1)
B = Anchor(20, (100.0, 50.0, 30.0, 20.0), keyframe=False, is_label=False, annotation_id=2)
C = Anchor(24, (104.0, 50.0, 30.0, 24.0), annotation_id=3)
TRACK = [A, B, C]


def test_interpolation_is_linear_and_exact_at_the_anchors() -> None:
    assert interpolate(A, B, 10) == A.bbox and interpolate(A, B, 20) == B.bbox
    # frame 15 is halfway: x 0->100 gives 50, y 0->50 gives 25, w 10->30 gives 20, h stays 20
    assert interpolate(A, B, 15) == (50.0, 25.0, 20.0, 20.0)
    # frame 12 is 2/10 of the way: x 20, y 10, w 14
    assert interpolate(A, B, 12) == pytest.approx((20.0, 10.0, 14.0, 20.0))
    with pytest.raises(ValueError, match="not between"):
        interpolate(A, B, 21)


def test_box_at_marks_keyframes_proposals_and_interpolated_boxes() -> None:
    assert box_at(TRACK, 9, None, 100) is None  # before the first anchor
    assert box_at(TRACK, 10, None, 100) == TrackBox(10, A.bbox, BoxKind.KEYFRAME, True, 1)
    assert box_at(TRACK, 20, None, 100) == TrackBox(20, B.bbox, BoxKind.PROPOSAL, False, 2)
    # between A (a label) and B (an unreviewed proposal): not a label
    assert box_at(TRACK, 15, None, 100) == TrackBox(15, (50.0, 25.0, 20.0, 20.0), BoxKind.INTERPOLATED, False)
    # between B and C, frame 22 is halfway: x 102, h 22
    assert box_at(TRACK, 22, None, 100) == TrackBox(22, (102.0, 50.0, 30.0, 22.0), BoxKind.INTERPOLATED, False)
    # after the last anchor the box is held until the end of the video (frame 99), a label as C is
    assert box_at(TRACK, 99, None, 100) == TrackBox(99, C.bbox, BoxKind.INTERPOLATED, True)
    assert box_at(TRACK, 100, None, 100) is None


def test_span_and_keyframes() -> None:
    assert span(TRACK, None, 100) == (10, 100)
    assert span(TRACK, 30, 100) == (10, 30)
    assert span(TRACK, 10, 100) is None  # ended at its first anchor: no frame left
    assert span([], None, 100) is None
    assert keyframes(TRACK) == [10, 24] and keyframes(TRACK, 24) == [10]


def test_boxes_between_agrees_with_box_at_frame_by_frame() -> None:
    boxes = boxes_between(TRACK, 0, 40, 30, 100)
    assert [b.frame for b in boxes] == list(range(10, 30))
    assert boxes == [box_at(TRACK, f, 30, 100) for f in range(10, 30)]
    assert boxes_between(TRACK, 22, 23, None, 100) == [box_at(TRACK, 22, None, 100)]


def test_ending_a_track_keeps_every_frame_before_the_end() -> None:
    """CVAT #1252 lost whole tracks: here the boxes before X are untouched, those at X and after go."""
    before = boxes_between(TRACK, 0, 22, None, 100)
    end = end_from(TRACK, 22)
    assert end.kept == [A, B] and end.removed == [C]
    # frame 21 was interpolated B -> C (x 101, h 21): it becomes an anchor, a proposal as B is
    assert end.added == Anchor(21, (101.0, 50.0, 30.0, 21.0), keyframe=False, is_label=False)
    after = [*end.kept, end.added]
    assert boxes_between(after, 0, 22, 22, 100) == [
        b if b.frame != 21 else TrackBox(21, b.bbox, BoxKind.PROPOSAL, False) for b in before]
    assert box_at(after, 22, 22, 100) is None
    assert end_from(TRACK, 10) == TrackEnd([], TRACK, None)
    assert end_from(TRACK, 21).added is None  # frame 20 is the anchor B itself
    assert end_from(TRACK, 30) == TrackEnd(TRACK, [], None)  # held boxes need no anchor
    # a stored box at or after the end is not shown even if it was kept
    assert box_at(TRACK, 24, 23, 100) is None and span(TRACK, 23, 100) == (10, 23)


def test_anchors_must_be_ordered_distinct_frames() -> None:
    check_anchors(TRACK)
    with pytest.raises(ValueError, match="increasing"):
        check_anchors([B, A])
    with pytest.raises(ValueError, match="increasing"):
        check_anchors([A, A])
    with pytest.raises(ValueError, match=">= 0"):
        end_from(TRACK, -1)
