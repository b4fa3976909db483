"""Runs ``detector-app errors`` (arguments in :mod:`detector_app.cli.errors_cmd`): the version predicts the
holdout's reviewed images, then ``training.error_analysis`` compares."""

from __future__ import annotations

import argparse
import json

from detector_app.cli.project_arg import open_project
from detector_app.core.names import printable
from detector_app.detection.presets import PRESETS
from detector_app.errors import TrainingError
from detector_app.training.error_analysis import analyse, format_report
from detector_app.training.evaluate import predict_samples
from detector_app.training.model_setup import pick_device
from detector_app.training.plan import holdout_samples, reviewed_samples
from detector_app.training.uncertainty import DECISION_THRESHOLD
from detector_app.training.versions import load_version


def run(args: argparse.Namespace) -> int:
    threshold = DECISION_THRESHOLD if args.threshold is None else args.threshold
    with open_project(args.project, create=False) as project:
        loaded = load_version(project, args.version)  # the active one by default; refuses an unknown id
        record = project.repo.get_model_version(args.version) if args.version else project.repo.active_model_version()
        samples = holdout_samples(reviewed_samples(project))
        if not samples:
            raise TrainingError("the project has no holdout with reviewed images: choose one with detector-app holdout")
        size = args.size or int(record.settings.get("size") or PRESETS[loaded.preset].default_size)
        device = pick_device(args.device)
        predictions = predict_samples(loaded.model.to(device), loaded.class_names, samples, size, device)
        assert predictions is not None  # nothing stops it
        report = analyse(samples, predictions, list(loaded.class_names[1:]), threshold)
    if args.json:
        print(json.dumps({"version": record.id, "images": len(samples), **report.to_dict()}))
    else:
        print(printable(f"model version {record.name} on {len(samples)} holdout images"))
        print(printable(format_report(report, args.top), multiline=True))
    return 0
