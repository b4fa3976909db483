"""Local fine-tuning on the project's reviewed boxes, model versions and before/after evaluation.

No Qt: ``train``/``resume`` (``run``) run in-process (CLI), ``background.TrainingRunner`` in a separate process
(GUI); ``loop`` is the training loop itself.
"""

from detector_app.training.evaluate import coco_metrics, evaluate_model
from detector_app.training.events import EvalResult, TrainResult
from detector_app.training.run import resume, train
from detector_app.training.settings import FREEZE_LEVELS, TrainSettings
from detector_app.training.version_scores import evaluate_version
from detector_app.training.version_scores import evaluate_version as evaluate
from detector_app.training.versions import activate_version, load_version, register_version

__all__ = [
    "FREEZE_LEVELS",
    "EvalResult",
    "TrainResult",
    "TrainSettings",
    "activate_version",
    "coco_metrics",
    "evaluate",
    "evaluate_model",
    "evaluate_version",
    "load_version",
    "register_version",
    "resume",
    "train",
]
