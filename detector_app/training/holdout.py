"""The frozen holdout: one human-verified evaluation set per project, never trained on, the same for every version.

One rule: the holdout *is* the project's ``test`` split (``Split.TEST``). Training already leaves test images out
of both training and validation (``data.split_samples``); every before/after score of a run and every version score
uses the holdout's reviewed images when there are any (``plan.RunPlan.holdout``, ``version_scores``), and falls
back to the validation split when the project has none.

Choosing it (``ensure_holdout``) happens once: when any image is in the test split, that is the holdout and it is
never re-chosen. Otherwise ``HOLDOUT_SHARE`` of the reviewed images outside the user's validation split (at least
one, and only from ``MIN_REVIEWED`` reviewed images up) are drawn, seeded, stratified by class: images holding the
rarest classes are considered first and taken while one of their classes is under its quota (the class's share
of the set), the rest is filled at random. ``grow_holdout`` adds images by the same rule, quotas counted against
what the holdout already has. No torch here: the ``holdout`` command stays light.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detector_app.core.labels import Split
from detector_app.errors import DetectorAppError

HOLDOUT_SPLIT = Split.TEST
HOLDOUT_SHARE = 0.2  # of the reviewed images, when the holdout is first chosen
MIN_REVIEWED = 5  # fewer reviewed images than this: no holdout (it would be one or two images of noise)
_PAGE = 1000


class HoldoutError(DetectorAppError):
    """The holdout cannot be chosen or grown as asked (too few reviewed images)."""


@dataclass(frozen=True)
class Holdout:
    """The holdout as it stands: its images, how many are reviewed (only those are scored), images per class."""

    image_ids: tuple[int, ...]
    reviewed: int
    class_counts: dict[str, int]
    added: int = 0  # images this call put in it (0: it existed and was left as it was)

    @property
    def size(self) -> int:
        return len(self.image_ids)


def is_holdout(split: str | None) -> bool:
    return split == HOLDOUT_SPLIT


def holdout_count(reviewed: int) -> int:
    """How many images a new holdout takes from ``reviewed`` reviewed images (0 below ``MIN_REVIEWED``)."""
    return 0 if reviewed < MIN_REVIEWED else max(1, round(HOLDOUT_SHARE * reviewed))


def pick_stratified(candidates: Mapping[int, frozenset[str]], count: int, quotas: Mapping[str, float],
                    seed: int) -> list[int]:
    """``count`` image ids of ``candidates`` (id -> its classes), seeded: rarest classes first, an image taken while
    one of its classes is still under ``quotas`` (images of that class still wanted), then filled at random."""
    order = sorted(candidates)
    random.Random(seed).shuffle(order)
    frequency = Counter(c for classes in candidates.values() for c in classes)
    by_rarity = sorted(order, key=lambda i: min((frequency[c] for c in candidates[i]), default=len(order) + 1))
    need = dict(quotas)
    chosen: list[int] = []
    for image_id in by_rarity:
        if len(chosen) >= count:
            break
        classes = candidates[image_id]
        if any(need.get(c, 0.0) >= 0.5 for c in classes):
            chosen.append(image_id)
            for c in classes:
                need[c] = need.get(c, 0.0) - 1
    taken = set(chosen)
    chosen += [i for i in order if i not in taken][:max(0, count - len(chosen))]
    return sorted(chosen)


def read_holdout(repo: Any) -> Holdout:
    """The project's holdout as it is now (empty when it has none)."""
    images = _all_images(repo)
    ids = tuple(i.id for i in images if is_holdout(i.split))
    reviewed = {i.id for i in images if i.reviewed}
    classes = _reviewed_classes(repo)
    counts = Counter(c for i in ids for c in classes.get(i, ()))
    return Holdout(ids, sum(1 for i in ids if i in reviewed), dict(sorted(counts.items())))


def ensure_holdout(repo: Any, seed: int = 0) -> Holdout:
    """The holdout, chosen now (see the module docstring) only when the project has none."""
    current = read_holdout(repo)
    if current.size:
        return current
    candidates, classes = _candidates(repo)
    count = holdout_count(len(classes))
    if count == 0:
        raise HoldoutError(f"a holdout needs at least {MIN_REVIEWED} reviewed images; the project has "
                           f"{len(classes)}: review more images first")
    count = min(count, len(candidates) - 1)
    if count < 1:
        raise HoldoutError("every reviewed image is in the validation split: put some in no split or in train "
                           "first, so the holdout can be drawn from them")
    frequency = Counter(c for cs in candidates.values() for c in cs)
    quotas = {c: n * count / len(candidates) for c, n in frequency.items()}
    return _put_in_holdout(repo, pick_stratified(candidates, count, quotas, seed))


def grow_holdout(repo: Any, count: int, seed: int = 0) -> Holdout:
    """Add ``count`` reviewed images to the holdout (chosen first when there is none), by the same rule."""
    if count < 1:
        raise HoldoutError(f"--grow needs a positive number of images, not {count}")
    current = read_holdout(repo)
    if not current.size:
        current = ensure_holdout(repo, seed)
    candidates, classes = _candidates(repo)
    if count > len(candidates) - 1:
        raise HoldoutError(f"cannot grow the holdout by {count}: {len(candidates)} reviewed image(s) are outside "
                           "it and at least one must stay to train on")
    total = Counter(c for cs in classes.values() for c in cs)
    share = (current.reviewed + count) / max(1, len(classes))
    quotas = {c: n * share - current.class_counts.get(c, 0) for c, n in total.items()}
    grown = _put_in_holdout(repo, pick_stratified(candidates, count, quotas, seed))
    return Holdout(grown.image_ids, grown.reviewed, grown.class_counts, count)


def format_holdout(holdout: Holdout) -> str:
    """A few lines for the CLI: size, reviewed, images per class."""
    if not holdout.size:
        return "holdout: none (scores use each run's validation images)"
    lines = [f"holdout: {holdout.size} images ({holdout.reviewed} reviewed, scored)"
             + (f", {holdout.added} added now" if holdout.added else "")]
    width = max([len(c) for c in holdout.class_counts] + [5])
    lines += [f"  {name:<{width}}  {n:>6}" for name, n in holdout.class_counts.items()]
    return "\n".join(lines)


def _put_in_holdout(repo: Any, image_ids: list[int]) -> Holdout:
    repo.set_split(image_ids, str(HOLDOUT_SPLIT))  # one transaction
    current = read_holdout(repo)
    return Holdout(current.image_ids, current.reviewed, current.class_counts, len(image_ids))


def _candidates(repo: Any) -> tuple[dict[int, frozenset[str]], dict[int, frozenset[str]]]:
    """Reviewed images that may join the holdout (no split or train) and every reviewed image, each with its
    classes."""
    classes = _reviewed_classes(repo)
    allowed = (None, Split.TRAIN)
    candidates = {i.id: classes[i.id] for i in _all_images(repo, "reviewed") if i.split in allowed}
    return candidates, classes


def _reviewed_classes(repo: Any) -> dict[int, frozenset[str]]:
    """Reviewed image id -> the classes of its labels (a reviewed image has no bare proposals left)."""
    found: dict[int, set[str]] = {i: set() for i in repo.image_ids("reviewed")}
    for category in repo.categories():
        for image_id in repo.image_ids("reviewed", category.id):
            found[image_id].add(category.name)
    return {i: frozenset(c) for i, c in found.items()}


def _all_images(repo: Any, state: str = "all") -> list[Any]:
    images, after = [], None
    while page := repo.list_images(state=state, limit=_PAGE, after_id=after):
        images.extend(page)
        after = page[-1].id
    return images
