"""Local fine-tuning on the project's reviewed boxes, model versions and before/after evaluation.

No Qt: ``train``/``resume`` (``run``) run in-process (CLI), ``background.TrainingRunner`` in a separate process
(GUI); ``loop`` is the training loop itself. The names below are imported on first use (PEP 562, as in
``storage``): the torch-free modules (``holdout``, ``uncertainty``, ``events``, ``report``) load without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detector_app.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from detector_app.training.evaluate import coco_metrics, evaluate_model
    from detector_app.training.events import EvalResult, TrainResult
    from detector_app.training.run import resume, train
    from detector_app.training.settings import FREEZE_LEVELS, TrainSettings
    from detector_app.training.version_scores import evaluate_version
    from detector_app.training.versions import activate_version, load_version, register_version

# Exported name -> the submodule that defines it. (The old alias ``evaluate`` for ``evaluate_version`` is gone:
# it shadowed the ``evaluate`` submodule, so what it named depended on import order.)
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("coco_metrics", "evaluate_model"), "evaluate"),
    **dict.fromkeys(("EvalResult", "TrainResult"), "events"),
    **dict.fromkeys(("resume", "train"), "run"),
    **dict.fromkeys(("FREEZE_LEVELS", "TrainSettings"), "settings"),
    "evaluate_version": "version_scores",
    **dict.fromkeys(("activate_version", "load_version", "register_version"), "versions"),
}

__all__ = [
    "FREEZE_LEVELS",
    "EvalResult",
    "TrainResult",
    "TrainSettings",
    "activate_version",
    "coco_metrics",
    "evaluate_model",
    "evaluate_version",
    "load_version",
    "register_version",
    "resume",
    "train",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
