"""Runs ``detector-app stats`` (arguments in :mod:`detector_app.cli.stats_cmd`): images by review state and split,
boxes by status, and per annotator the boxes they edited last and the images they marked reviewed."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import open_project
from detector_app.core.labels import STATUSES
from detector_app.core.names import printable
from detector_app.storage.repository import Repository


def run(args: argparse.Namespace) -> int:
    with open_project(args.project, create=args.project is None) as project:
        print(f"project: {printable(project.location)}")
        print(format_stats(project.repo))
    return 0


def format_stats(repo: Repository) -> str:
    total, reviewed = repo.count_images(), repo.count_images("reviewed")
    lines = [f"images: {total} ({reviewed} reviewed, {total - reviewed} unreviewed)"]
    splits = repo.split_counts()
    lines.append("splits: " + ", ".join(f"{printable(str(split or 'none'))} {n}" for split, n in splits.items()))
    # Names escaped (a class name never drives the terminal), then laid out by their escaped width.
    counts = [(printable(name), by_status) for name, by_status in sorted(repo.class_counts().items())]
    width = max([len(name) for name, _ in counts] + [5])
    lines.append(f"{'class':<{width}}  " + "  ".join(f"{s:>9}" for s in STATUSES))
    for name, by_status in counts:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{by_status[s]:>9}" for s in STATUSES))
    totals = {s: sum(c[s] for _, c in counts) for s in STATUSES}
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{totals[s]:>9}" for s in STATUSES))
    active = repo.active_model_version()
    versions = repo.model_versions()
    lines.append(f"model versions: {len(versions)}" + (f" (active: {printable(active.name)})" if active else ""))
    lines.extend(format_annotators(repo))
    return "\n".join(lines)


def format_annotators(repo: Repository) -> list[str]:
    """One row per annotator (none when nobody edited yet): boxes whose latest change is theirs, images they
    marked reviewed."""
    counts = [(printable(name), c) for name, c in repo.annotator_counts().items()]
    if not counts:
        return []
    width = max([len(name) for name, _ in counts] + [len("annotator")])
    lines = [f"{'annotator':<{width}}  {'boxes edited':>12}  {'images reviewed':>15}"]
    lines += [f"{name:<{width}}  {c.boxes_edited:>12}  {c.images_reviewed:>15}" for name, c in counts]
    return lines
