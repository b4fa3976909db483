"""Detect all's time estimate reads at a glance (the walk of issue 12 saw "about 233:25 (min:s)" for ~4 h)."""

from __future__ import annotations

from detector_app.ui.batch import format_duration, format_eta
from detector_app.ui.detect_all_dialog import estimate


def test_the_estimate_says_hours_minutes_or_seconds() -> None:
    assert estimate(795, 795 / 14_005) == "795 frames, about 3.9 h at 0.1 frames/s measured."
    assert estimate(795, 795 / 720) == "795 frames, about 12 min at 1.1 frames/s measured."
    assert estimate(20, 1.0) == "20 frames, about 20 s at 1.0 frames/s measured."
    assert estimate(20, None).startswith("20 frames. Time: unknown until the model has run")
    assert [format_duration(s) for s in (0, 89, 90, 5399, 5400, -3)] == ["0 s", "89 s", "1 min", "89 min",
                                                                         "1.5 h", "0 s"]
    assert format_eta(125) == "2:05"  # the running countdown keeps m:ss
