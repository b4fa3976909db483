"""The correction report: per model version, what correcting its predictions cost (``correction_cost``) beside how
it scores on the frozen holdout (``holdout_scores``). One row per version, in the order they were made; a first row
``(no version)`` when images were reviewed from a model outside the project's versions (the pretrained one).

``COLUMNS`` are the table of both the ``report`` command and the report window. ``CorrectionReport.to_dict`` is
the ``--json`` shape, stable for scripts (a key is only ever added)::

    {"holdout_images": int,            # reviewed holdout images the scores are on (0: no holdout)
     "notes": [str, ...],              # what is missing and what to do about it
     "versions": [{"id": int | null, "name": str, "active": bool,
                   "images_reviewed": int, "proposals": int,          # proposals acted on
                   "accepted": int, "adjusted": int, "relabelled": int, "rejected": int, "missed": int,
                   "acceptance_rate": float | null,                   # accepted / proposals
                   "adjusted_per_image", "relabelled_per_image", "rejected_per_image", "missed_per_image",
                   "edits_per_image": float | null,                   # every action but an accept, per image
                   "mean_adjusted_iou": float | null, "median_seconds_per_image": float | null,
                   "timed_images": int,
                   "holdout": {"map", "ap50", "ap_small", "ap_medium", "ap_large": float | null,
                               "images": int} | null,
                   "holdout_note": str}]}                             # why "holdout" is null ("" otherwise)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detector_app.core.provenance import Action
from detector_app.storage import Project
from detector_app.training.correction_cost import VersionCost, correction_costs
from detector_app.training.error_analysis import holdout_samples
from detector_app.training.holdout_scores import HoldoutScores, version_scores

NO_VERSION_NAME = "(no version)"
NO_VERSIONS = ("No model versions yet: train one (detector-app train, or Model › Train on reviewed labels…), "
               "detect with it and review its boxes; the report then shows what each version cost to correct.")
NO_REVIEWS = ("No image reviewed from a model's predictions yet: detect with a version (Detect all…, or "
              "detector-app detect), review the images, and the cost columns fill in.")
NO_HOLDOUT = ("No holdout yet: the accuracy columns need one (detector-app holdout chooses it from the reviewed "
              "images).")


@dataclass(frozen=True)
class ReportRow:
    version_id: int | None
    name: str
    active: bool
    cost: VersionCost
    holdout: HoldoutScores | None
    holdout_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        c = self.cost
        return {"id": self.version_id, "name": self.name, "active": self.active, "images_reviewed": c.images,
                "proposals": c.proposals,
                **{a.value: c.count(a) for a in (Action.ACCEPTED, Action.ADJUSTED, Action.RELABELLED, Action.REJECTED)},
                "missed": c.count(Action.DRAWN), "acceptance_rate": c.acceptance_rate,
                "adjusted_per_image": c.per_image(Action.ADJUSTED),
                "relabelled_per_image": c.per_image(Action.RELABELLED),
                "rejected_per_image": c.per_image(Action.REJECTED), "missed_per_image": c.per_image(Action.DRAWN),
                "edits_per_image": c.edits_per_image, "mean_adjusted_iou": c.mean_adjusted_iou,
                "median_seconds_per_image": c.median_seconds, "timed_images": len(c.seconds),
                "holdout": self.holdout.to_dict() if self.holdout else None, "holdout_note": self.holdout_note}


@dataclass(frozen=True)
class CorrectionReport:
    rows: tuple[ReportRow, ...]
    holdout_images: int

    @property
    def has_reviews(self) -> bool:
        return any(r.cost.images for r in self.rows)

    @property
    def notes(self) -> tuple[str, ...]:
        """What is missing, each with what to do (empty when nothing is)."""
        if not self.rows:
            return (NO_VERSIONS,)
        return tuple(n for n, missing in ((NO_REVIEWS, not self.has_reviews), (NO_HOLDOUT, not self.holdout_images))
                     if missing)

    def to_dict(self) -> dict[str, Any]:
        return {"holdout_images": self.holdout_images, "notes": list(self.notes),
                "versions": [r.to_dict() for r in self.rows]}


def build_report(project: Project, device: str = "auto", evaluate: bool = True) -> CorrectionReport:
    """The report of ``project``. ``evaluate`` False: holdout scores only where already cached (no model runs)."""
    repo = project.repo
    versions = repo.model_versions()
    if not versions:
        return CorrectionReport((), 0)
    costs = correction_costs(repo)
    samples = holdout_samples(project)  # the holdout as the error analysis reads it
    rows = []
    if None in costs:
        rows.append(ReportRow(None, NO_VERSION_NAME, False, costs[None], None,
                              "not a project version: nothing to score"))
    for v in versions:
        scores, why = version_scores(project, v, samples, device, evaluate)
        rows.append(ReportRow(v.id, v.name, v.is_active, costs.get(v.id, VersionCost(v.id)), scores, why))
    return CorrectionReport(tuple(rows), len(samples))


# --- the table ---------------------------------------------------------------------------------------------

def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _score(key: str) -> Callable[[ReportRow], str]:
    return lambda r: _num(getattr(r.holdout, key), 3) if r.holdout else "-"


# (header, tooltip, cell text): the report command's table and the report window's columns.
COLUMNS: tuple[tuple[str, str, Callable[[ReportRow], str]], ...] = (
    ("version", "model version (* active)", lambda r: r.name + (" *" if r.active else "")),
    ("images", "reviewed images whose boxes it proposed", lambda r: str(r.cost.images)),
    ("accept", "proposals accepted as they were / proposals acted on", lambda r: _percent(r.cost.acceptance_rate)),
    ("adj/img", "proposals moved or resized, per image", lambda r: _num(r.cost.per_image(Action.ADJUSTED))),
    ("relab/img", "proposals given another class, per image", lambda r: _num(r.cost.per_image(Action.RELABELLED))),
    ("rej/img", "proposals rejected (false positives), per image", lambda r: _num(r.cost.per_image(Action.REJECTED))),
    ("miss/img", "boxes a person drew (misses), per image", lambda r: _num(r.cost.per_image(Action.DRAWN))),
    ("edits/img", "every action but an accept, per image", lambda r: _num(r.cost.edits_per_image)),
    ("adj.IoU", "mean IoU of adjusted boxes with their proposals", lambda r: _num(r.cost.mean_adjusted_iou)),
    ("s/img", "median active review seconds per image", lambda r: _num(r.cost.median_seconds, 1)),
    ("mAP", "holdout mAP@[.5:.95]", _score("map")),
    ("AP50", "holdout AP at IoU 0.5", _score("ap50")),
    ("APs", "holdout AP of small boxes (< 32² px)", _score("ap_small")),
    ("APm", "holdout AP of medium boxes", _score("ap_medium")),
    ("APl", "holdout AP of large boxes (> 96² px)", _score("ap_large")),
)


def table_cells(report: CorrectionReport) -> list[list[str]]:
    return [[cell(r) for _, _, cell in COLUMNS] for r in report.rows]


def format_report(report: CorrectionReport) -> str:
    """The table (one row per version), the holdout size, then the notes; only the note without versions."""
    if not report.rows:
        return NO_VERSIONS
    cells = table_cells(report)
    headers = [h for h, _, _ in COLUMNS]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths,
                                                                                            strict=True)))]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
              for row in cells]
    if report.holdout_images:
        lines.append(f"holdout: {report.holdout_images} reviewed images")
    lines += [f"{r.name}: no holdout scores: {r.holdout_note}" for r in report.rows
              if r.holdout is None and report.holdout_images and r.version_id is not None]
    return "\n".join([*lines, *report.notes])
