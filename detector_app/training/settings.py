"""What defines a training run: its settings and the freeze levels (plain, picklable data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from detector_app.errors import TrainingError

# What trains at each level: the rest stays frozen.
FREEZE_LEVELS: dict[str, str] = {
    "heads": "classification and box heads only (backbone and FPN frozen)",
    "fpn": "heads and FPN (backbone frozen)",
    "all": "everything",
}
FreezeLevel = Literal["heads", "fpn", "all"]
LIGHT_PRESET = "retinanet_light_gn"  # a new model when the project has no version (issue 18: was retinanet_light)


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a run; stored with it, so a run can be resumed or repeated.

    ``parent``: ``None`` fine-tunes the project's active version (a new light model when there is
    none); an ``int`` is a version id; ``"scratch"`` starts from random weights of ``preset``; any
    other string is a ``load_model`` spec (preset name for its COCO weights, or a ``.pth`` path).
    ``classes``: ``None`` means every category with a reviewed box.
    """

    epochs: int | None = None  # None: chosen from the training set's size (recipe.auto_epochs)
    minutes: float | None = None  # time budget: after each epoch the run is shortened to end within it
    size: int | None = None  # long side in pixels; None: the parent version's, else the preset's
    freeze: FreezeLevel | None = None  # None: "all" from scratch, "heads" when fine-tuning
    val_share: float = 0.2
    preset: str | None = None
    parent: int | str | None = None
    classes: tuple[str, ...] | None = None
    batch_size: int = 4
    lr: float | None = None  # None: per optimizer/freeze default (see optimizer.default_lr)
    optimizer: Literal["sgd", "adamw"] = "adamw"
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    clip_grad_norm: float = 10.0
    scale_jitter: float = 0.2  # image scale drawn from [1 - j, 1 + j]
    photometric: bool = True
    # Share of training images made of four random crops of four images (data.mosaic). Off by default: on the
    # 96 px shapes of tests/test_training_run_learning.py it held AP50 at 0.40 after 8 of 10 epochs (the recipe
    # before issue 18 reaches 0.80 after 10).
    mosaic: float = 0.0
    # A new model's anchors start at its smallest boxes (recipe.fit_anchor_sizes). Off by default: on the 96 px
    # shapes of the slow learning test it reached AP50 0.69 after 10 epochs where torchvision's anchors reach 0.80.
    fit_anchors: bool = False
    keep_best: bool = True  # the version keeps the epoch with the best validation mAP, not the last
    cache_features: bool = True  # heads-only runs: compute backbone+FPN features once
    # bf16 autocast: None = auto (on where the CPU or GPU has native bf16), True/False to force.
    bf16: bool | None = None
    device: str = "auto"
    seed: int = 0
    threads: int | None = None
    name: str | None = None  # name of the model version; default "v<id>"

    def __post_init__(self) -> None:
        if self.freeze is not None and self.freeze not in FREEZE_LEVELS:
            raise TrainingError(f"unknown freeze level {self.freeze!r}; choose one of {', '.join(FREEZE_LEVELS)}")
        if self.epochs is not None and self.epochs < 1:
            raise TrainingError(f"epochs must be at least 1 (got {self.epochs})")
        if self.minutes is not None and not self.minutes > 0:
            raise TrainingError(f"the time budget must be a positive number of minutes (got {self.minutes})")
        if self.size is not None and not 32 <= self.size <= 2048:
            raise TrainingError(f"input size must be between 32 and 2048 pixels (got {self.size})")
        if not 0.0 <= self.val_share < 1.0:
            raise TrainingError(f"validation share must be in [0, 1) (got {self.val_share})")
        if self.batch_size < 1:
            raise TrainingError(f"batch size must be at least 1 (got {self.batch_size})")
        if not 0.0 <= self.mosaic <= 1.0:
            raise TrainingError(f"mosaic share must be in [0, 1] (got {self.mosaic})")
        if self.optimizer not in ("sgd", "adamw"):
            raise TrainingError(f"unknown optimizer {self.optimizer!r}; choose sgd or adamw")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["classes"] is not None:
            out["classes"] = list(out["classes"])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if kwargs.get("classes") is not None:
            kwargs["classes"] = tuple(kwargs["classes"])
        return cls(**kwargs)
