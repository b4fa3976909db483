"""Where a track is at each frame of a video: its stored boxes, interpolation between them, and its end.

Pure functions on plain records (no database, no torch); the video store feeds them the stored boxes of a
track and shows or exports what they return. The rules, in one place:

- A track's *anchors* are its stored boxes that are not rejected, one per frame at most: *keyframes* (a person
  placed them) and *proposals* (a tracker placed them, ``keyframe=False``).
- A track lives from its first anchor up to, not including, ``ended_at`` (the first frame it is gone), or to
  the end of the video while it is open (``ended_at`` None), as in CVAT.
- Between two anchors each coordinate of the box (x, y, w, h) is linearly interpolated, exact at the anchors;
  after the last anchor the box is held where it was until the track ends.
- An interpolated box counts as a label when both anchors around it do (a held box: when the last one does).
- Ending a track at frame X changes nothing shown before X: the anchors at X and after are removed, and the box
  at X - 1 is stored when it was interpolated towards one of them.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

BBox = tuple[float, float, float, float]  # COCO x, y, w, h in pixels


class BoxKind(StrEnum):
    """What a box shown at a frame is."""

    KEYFRAME = "keyframe"  # stored on a track, placed by a person
    PROPOSAL = "proposal"  # stored on a track, proposed by a tracker (propagate), waiting for review
    INTERPOLATED = "interpolated"  # not stored: between two anchors, or held after the last one
    PLAIN = "plain"  # stored, on no track: a box of that frame only


@dataclass(frozen=True)
class Anchor:
    """A stored box of a track at ``frame``."""

    frame: int
    bbox: BBox
    keyframe: bool = True  # False: a tracker's proposal
    is_label: bool = True  # counts as a label (core.labels.counts_as_label of its status and origin)
    annotation_id: int | None = None


@dataclass(frozen=True)
class TrackBox:
    """A track's box at one frame. ``annotation_id`` is the stored box, None for an interpolated one."""

    frame: int
    bbox: BBox
    kind: BoxKind
    is_label: bool
    annotation_id: int | None = None


def check_anchors(anchors: Sequence[Anchor]) -> None:
    """Anchors are sorted by frame, one per frame, at frames >= 0 (the store guarantees it; this says so)."""
    frames = [a.frame for a in anchors]
    if any(f < 0 for f in frames) or any(b <= a for a, b in zip(frames, frames[1:], strict=False)):
        raise ValueError(f"anchors must be at distinct frames >= 0 in increasing order, got frames {frames}")


def lerp_box(a: BBox, b: BBox, t: float) -> BBox:
    """``a`` at t=0, ``b`` at t=1, each coordinate linear in between."""
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t, a[3] + (b[3] - a[3]) * t)


def interpolate(before: Anchor, after: Anchor, frame: int) -> BBox:
    """The box at ``frame`` between two anchors (exactly theirs at their own frames)."""
    if not before.frame <= frame <= after.frame or before.frame >= after.frame:
        raise ValueError(f"frame {frame} is not between anchors at {before.frame} and {after.frame}")
    if frame == before.frame:
        return before.bbox
    if frame == after.frame:
        return after.bbox
    return lerp_box(before.bbox, after.bbox, (frame - before.frame) / (after.frame - before.frame))


def live_anchors(anchors: Sequence[Anchor], ended_at: int | None) -> Sequence[Anchor]:
    """The anchors before the end (a stored box at or after it is not shown)."""
    if ended_at is None:
        return anchors
    return anchors[:bisect.bisect_left([a.frame for a in anchors], ended_at)]


def span(anchors: Sequence[Anchor], ended_at: int | None, frame_count: int) -> tuple[int, int] | None:
    """The frames ``[start, stop)`` where the track has a box; None when it has none."""
    live = live_anchors(anchors, ended_at)
    if not live:
        return None
    stop = frame_count if ended_at is None else min(ended_at, frame_count)
    return (live[0].frame, stop) if live[0].frame < stop else None


def box_at(anchors: Sequence[Anchor], frame: int, ended_at: int | None, frame_count: int) -> TrackBox | None:
    """The track's box at ``frame``, or None where it does not live."""
    live = live_anchors(anchors, ended_at)
    where = span(live, ended_at, frame_count)
    if where is None or not where[0] <= frame < where[1]:
        return None
    frames = [a.frame for a in live]
    i = bisect.bisect_right(frames, frame) - 1  # the last anchor at or before frame (exists: frame >= start)
    return _box(live, i, frame)


def boxes_between(anchors: Sequence[Anchor], start: int, stop: int, ended_at: int | None,
                  frame_count: int) -> list[TrackBox]:
    """The track's box at every frame of ``[start, stop)`` where it lives, in frame order (for exports and the
    timeline: one pass, not a search per frame)."""
    live = live_anchors(anchors, ended_at)
    where = span(live, ended_at, frame_count)
    if where is None:
        return []
    first, last = max(start, where[0]), min(stop, where[1])
    out: list[TrackBox] = []
    frames = [a.frame for a in live]
    i = bisect.bisect_right(frames, first) - 1
    for frame in range(first, last):
        while i + 1 < len(live) and live[i + 1].frame <= frame:
            i += 1
        out.append(_box(live, i, frame))
    return out


def _box(live: Sequence[Anchor], i: int, frame: int) -> TrackBox:
    """The box at ``frame`` given ``live[i]``, the last anchor at or before it."""
    anchor = live[i]
    if anchor.frame == frame:
        kind = BoxKind.KEYFRAME if anchor.keyframe else BoxKind.PROPOSAL
        return TrackBox(frame, anchor.bbox, kind, anchor.is_label, anchor.annotation_id)
    if i + 1 < len(live):
        after = live[i + 1]
        return TrackBox(frame, interpolate(anchor, after, frame), BoxKind.INTERPOLATED,
                        anchor.is_label and after.is_label)
    return TrackBox(frame, anchor.bbox, BoxKind.INTERPOLATED, anchor.is_label)  # held after the last anchor


def keyframes(anchors: Sequence[Anchor], ended_at: int | None = None) -> list[int]:
    """Frames of the keyframes a person placed (proposals left out), before the end."""
    return [a.frame for a in live_anchors(anchors, ended_at) if a.keyframe]


@dataclass(frozen=True)
class TrackEnd:
    """What ending a track at a frame does to its anchors."""

    kept: list[Anchor]  # every anchor before the end, untouched
    removed: list[Anchor]  # the anchors at the end and after it
    added: Anchor | None  # the box at ``end - 1`` made an anchor when it was interpolated towards a removed one


def end_from(anchors: Sequence[Anchor], frame: int) -> TrackEnd:
    """Ending a track at ``frame``: every box before ``frame`` stays exactly as it was shown. When the frame just
    before the end was interpolated towards an anchor being removed, that box is stored as an anchor (a keyframe
    when both anchors around it were), else removing the later anchor would move it."""
    if frame < 0:
        raise ValueError(f"a track ends at a frame >= 0, not {frame}")
    kept = [a for a in anchors if a.frame < frame]
    removed = [a for a in anchors if a.frame >= frame]
    added = None
    if kept and removed and kept[-1].frame < frame - 1:
        before, after = kept[-1], removed[0]
        added = Anchor(frame - 1, interpolate(before, after, frame - 1), before.keyframe and after.keyframe,
                       before.is_label and after.is_label)
    return TrackEnd(kept, removed, added)
