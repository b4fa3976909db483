"""The review clock on hand-computed timelines: idle gaps over a minute count nothing, visits that did not end in
done carry over to the one that does, a record only on the turn to reviewed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from detector_app.review.review_clock import IDLE_LIMIT_S, ReviewClock, ReviewTiming, proposals_version
from detector_app.storage.records import AnnotationRecord

from .fake_clock import T0, FakeTime


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


def test_gaps_up_to_a_minute_count_longer_ones_count_nothing(time: FakeTime) -> None:
    clock = ReviewClock(time)
    clock.show(1, 7)
    time.wait(10)
    clock.activity()  # 10
    time.wait(IDLE_LIMIT_S)
    clock.activity()  # exactly a minute still counts: 70
    time.wait(300)
    clock.activity()  # five minutes away: 0
    time.wait(61)
    clock.activity()  # just over a minute: 0
    time.wait(4)
    assert clock.done() == ReviewTiming(1, 7, 74.0, T0, T0 + timedelta(seconds=435))


def test_time_of_visits_not_done_carries_to_the_done_visit(time: FakeTime) -> None:
    clock = ReviewClock(time)
    clock.show(1, 3)  # first visit of image 1: 20 s, not done
    time.wait(20)
    clock.show(2, None)  # to image 2: 5 s
    time.wait(5)
    clock.leave()  # off to a live source: 30 min pass, not counted anywhere
    time.wait(1800)
    clock.show(1, 4)  # back to 1: its review began under version 3, which it keeps
    time.wait(15)
    timing = clock.done()
    assert timing == ReviewTiming(1, 3, 35.0, T0, T0 + timedelta(seconds=1840))
    assert clock.carried_seconds(2) == 5.0 and clock.carried_seconds(1) == 0.0


def test_done_again_after_an_undo_counts_from_the_last_done(time: FakeTime) -> None:
    clock = ReviewClock(time)
    clock.show(1, 3)
    time.wait(8)
    first = clock.done(next_version_id=3)
    time.wait(12)
    second = clock.done()
    assert first is not None and first.seconds == 8.0
    assert second == ReviewTiming(1, 3, 12.0, T0 + timedelta(seconds=8), T0 + timedelta(seconds=20))


def test_showing_the_shown_image_again_is_activity_and_no_image_gives_no_record(time: FakeTime) -> None:
    clock = ReviewClock(time)
    assert clock.done() is None
    clock.activity()  # nothing shown: ignored
    clock.show(5, None)
    time.wait(30)
    clock.show(5, 9)  # an undo that redraws the same image
    time.wait(70)  # idle
    timing = clock.done()
    assert timing is not None and (timing.seconds, timing.model_version_id) == (30.0, None)


def test_a_clock_going_back_counts_nothing(time: FakeTime) -> None:
    clock = ReviewClock(time)
    clock.show(1, None)
    time.wait(-5)  # the system clock was set back
    clock.activity()
    time.wait(3)
    timing = clock.done()
    assert timing is not None and timing.seconds == 3.0


def _box(version: int | None, origin: str = "model") -> AnnotationRecord:
    return AnnotationRecord(1, 1, 1, "cat", (0, 0, 1, 1), 0.5, origin, "predicted", model_version_id=version)


@pytest.mark.parametrize(("boxes", "expected"), [
    ([], None),
    ([_box(None, "human")], None),
    ([_box(2), _box(3), _box(2)], 2),  # most boxes
    ([_box(2), _box(3)], 3),  # a tie: the newest
    ([_box(None), _box(None), _box(4)], None),  # a model outside the project's versions proposed most
    ([_box(None), _box(4)], 4),
    ([_box(1, "human"), _box(1, "human"), _box(5)], 5),  # drawn boxes are no proposals
])
def test_proposals_version(boxes: list[AnnotationRecord], expected: int | None) -> None:
    assert proposals_version(boxes) == expected
