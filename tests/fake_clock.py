"""A clock the review-clock tests move by hand: ``ReviewClock(FakeTime())`` sees exactly the gaps a test waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t

    def wait(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
