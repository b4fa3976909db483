"""What a training run reports: its progress events, its evaluation scores and its result (plain, picklable data).

One stream of events feeds the CLI progress bar, the GUI plot and the logs; no torch, so the CLI and GUI can
import it cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class EvalResult:
    """COCO box metrics on one image set. AP values are in [0, 1]; ``None`` where a class has no
    ground truth in the set."""

    map: float
    ap50: float
    per_class_ap: dict[str, float | None]
    per_class_ap50: dict[str, float | None]
    images: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class TrainResult:
    status: Literal["finished", "cancelled"]
    run_id: int
    run_dir: Path
    checkpoint: Path | None
    epochs_done: int
    version_id: int | None = None
    weights_path: Path | None = None
    before: EvalResult | None = None
    after: EvalResult | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    run_dir: Path
    class_names: tuple[str, ...]
    train_images: int
    val_images: int
    epochs: int
    steps_per_epoch: int
    start_epoch: int = 0


@dataclass(frozen=True)
class PhaseChanged:
    """A stretch of work that is not a training step (caching features, evaluating)."""

    phase: str
    text: str


@dataclass(frozen=True)
class StepDone:
    epoch: int  # 0-based
    step: int  # 1-based within the epoch
    steps: int
    losses: dict[str, float]
    lr: float
    images_per_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochDone:
    epoch: int
    loss: float
    val_map: float | None
    val_ap50: float | None
    checkpoint: Path


@dataclass(frozen=True)
class RunFinished:
    result: TrainResult


@dataclass(frozen=True)
class RunFailed:
    message: str


TrainEvent = RunStarted | PhaseChanged | StepDone | EpochDone | RunFinished | RunFailed
