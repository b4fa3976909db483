"""What correcting each model version's predictions cost: per-action counts, acceptance rate, edits, seconds.

Which images count for a version: the reviewed images that hold model boxes. An image belongs to the version that
proposed most of its model boxes (a tie goes to the newest version; boxes of a model outside the project's
versions, the pretrained one or a weight file, count as version ``None``). Everything a person did on the image
counts for that version, and the boxes a person drew there are its misses. An image on which the model proposed
nothing is not counted: nothing records that the model saw it.

What a person did to each box is ``core.provenance.correction_action``, the one rule; this module only counts:

- proposals acted on: accepted + adjusted + relabelled + rejected (``pending`` boxes, not yet looked at, are left
  out; a reviewed image has none);
- acceptance rate: accepted / proposals acted on;
- edits: every action but an accept counts one (an adjusted, relabelled or rejected proposal, a drawn box);
  per image: divided by the images counted (so are adjusted, relabelled, rejected and missed per image);
- mean IoU of the adjusted boxes with their proposals (boxes adjusted before proposals were kept are left out);
- median seconds per image: ``review_times`` rows of the version (the version whose proposals were on the image
  when its review began), summed per image (an image reviewed in two sittings counts once), then the median over
  images. Rows without a version go to version ``None`` only for its own images: a NULL version also means the
  image had no proposals at all.

No torch: the counts come from two bulk reads (``storage.correction_rows``).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from detector_app.core.labels import Origin
from detector_app.core.provenance import Action, correction_action, proposing_version
from detector_app.storage.correction_rows import BoxRow, ReviewTimeRow, box_rows, review_time_rows
from detector_app.storage.sessions import ProjectDatabase

ACTED_ON = (Action.ACCEPTED, Action.ADJUSTED, Action.RELABELLED, Action.REJECTED)
EDITS = (Action.ADJUSTED, Action.RELABELLED, Action.REJECTED, Action.DRAWN)  # every action but an accept


@dataclass(frozen=True)
class VersionCost:
    """The correction cost of one version (``version_id`` None: a model outside the project's versions)."""

    version_id: int | None
    images: int = 0  # reviewed images counted for it
    counts: Mapping[str, int] | None = None  # action -> boxes (core.provenance.Action values)
    adjusted_ious: tuple[float, ...] = ()
    seconds: tuple[float, ...] = ()  # active review seconds per timed image

    def count(self, action: Action) -> int:
        return int((self.counts or {}).get(action.value, 0))

    @property
    def proposals(self) -> int:
        """Proposals a person acted on."""
        return sum(self.count(a) for a in ACTED_ON)

    @property
    def edits(self) -> int:
        return sum(self.count(a) for a in EDITS)

    @property
    def acceptance_rate(self) -> float | None:
        return self.count(Action.ACCEPTED) / self.proposals if self.proposals else None

    def per_image(self, action: Action) -> float | None:
        return self.count(action) / self.images if self.images else None

    @property
    def edits_per_image(self) -> float | None:
        return self.edits / self.images if self.images else None

    @property
    def mean_adjusted_iou(self) -> float | None:
        return statistics.fmean(self.adjusted_ious) if self.adjusted_ious else None

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def image_versions(rows: Iterable[BoxRow]) -> dict[int, int | None]:
    """Image id -> the version it was reviewed from (see the module docstring)."""
    votes: dict[int, list[int | None]] = {}
    for row in rows:
        if row.origin == Origin.MODEL:
            votes.setdefault(row.image_id, []).append(row.model_version_id)
    return {image: proposing_version(versions) for image, versions in votes.items()}


def costs_from_rows(rows: Sequence[BoxRow], times: Sequence[ReviewTimeRow]) -> dict[int | None, VersionCost]:
    """Version id -> its cost, for every version that has an image counted or a review time."""
    owner = image_versions(rows)
    counts: dict[int | None, Counter[str]] = {}
    ious: dict[int | None, list[float]] = {}
    for row in rows:
        version = owner[row.image_id]
        done = correction_action(row.origin, row.status, row.bbox, row.category_id, row.proposal_bbox,
                                 row.proposal_category_id)
        counts.setdefault(version, Counter())[done.action.value] += 1
        if done.action == Action.ADJUSTED and done.iou is not None:
            ious.setdefault(version, []).append(done.iou)
    per_image: dict[int | None, dict[int, float]] = {}
    for t in times:
        if t.model_version_id is None and owner.get(t.image_id, 0) is not None:
            continue  # no version on record: counted only on the images of version None
        spent = per_image.setdefault(t.model_version_id, {})
        spent[t.image_id] = spent.get(t.image_id, 0.0) + t.seconds
    images = Counter(owner.values())
    return {v: VersionCost(v, images.get(v, 0), dict(counts.get(v, {})), tuple(ious.get(v, ())),
                           tuple(per_image.get(v, {}).values()))
            for v in sorted(set(images) | set(per_image), key=lambda v: -1 if v is None else v)}


def correction_costs(db: ProjectDatabase) -> dict[int | None, VersionCost]:
    """The project's correction cost per version, from one read of the boxes and one of the review times."""
    return costs_from_rows(box_rows(db), review_time_rows(db))
