"""The before/after comparison, as rows that the CLI prints and the Train dialog shows in a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from detector_app.training.events import EvalResult


@dataclass(frozen=True)
class ComparisonRow:
    metric: str
    before: float | None
    after: float | None

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before


def comparison_rows(before: EvalResult | None, after: EvalResult | None,
                    classes: Sequence[str] = ()) -> list[ComparisonRow]:
    """mAP, AP50, then AP50 per class (``classes`` order, then any other class either result has)."""
    rows = [ComparisonRow("mAP@[.5:.95]", before.map if before else None, after.map if after else None),
            ComparisonRow("AP50", before.ap50 if before else None, after.ap50 if after else None)]
    names = list(dict.fromkeys([*classes, *(after.per_class_ap50 if after else {}),
                                *(before.per_class_ap50 if before else {})]))
    for name in names:
        rows.append(ComparisonRow(f"AP50 {name}", before.per_class_ap50.get(name) if before else None,
                                  after.per_class_ap50.get(name) if after else None))
    return rows


def format_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_change(value: float | None) -> str:
    return "" if value is None else f"{value:+.3f}"


def format_table(rows: Sequence[ComparisonRow]) -> str:
    width = max([len(r.metric) for r in rows] + [6])
    lines = [f"{'metric':<{width}}  {'before':>7}  {'after':>7}  {'change':>7}"]
    for r in rows:
        lines.append(f"{r.metric:<{width}}  {format_value(r.before):>7}  {format_value(r.after):>7}  "
                     f"{format_change(r.change):>7}")
    return "\n".join(lines)


def format_result(result: EvalResult, classes: Sequence[str] = ()) -> str:
    """One model's scores: mAP, AP50, then AP and AP50 per class."""
    names = list(dict.fromkeys([*classes, *result.per_class_ap50]))
    width = max([len(n) for n in names] + [12])
    lines = [f"{'mAP@[.5:.95]':<{width}}  {format_value(result.map):>7}",
             f"{'AP50':<{width}}  {format_value(result.ap50):>7}",
             f"{'class':<{width}}  {'AP':>7}  {'AP50':>7}"]
    for name in names:
        lines.append(f"{name:<{width}}  {format_value(result.per_class_ap.get(name)):>7}  "
                     f"{format_value(result.per_class_ap50.get(name)):>7}")
    return "\n".join(lines)
