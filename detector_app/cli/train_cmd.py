"""``detector-app train`` and ``detector-app eval``: their arguments; :mod:`detector_app.cli.train_run` runs them."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector_app.cli.project_arg import add_project_argument
from detector_app.detection.preset_names import PRESET_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="fine-tune a model on the project's reviewed labels")
    add_project_argument(p)
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: chosen from the number of training images, see the README's training "
                        "recipe; with --resume: the run's)")
    p.add_argument("--minutes", type=float, default=None,
                   help="time limit: after each epoch the run is shortened to end within it (default: none)")
    p.add_argument("--freeze", choices=("heads", "fpn", "all"), default=None,
                   help="what trains: heads only (default when fine-tuning), heads + FPN, or all "
                        "(default from scratch)")
    p.add_argument("--size", type=int, default=None,
                   help="input size (long side, pixels; default: the parent version's, else the preset's)")
    p.add_argument("--val-share", type=float, default=0.2, help="share of reviewed images kept for validation")
    p.add_argument("--preset", default=None,
                   help=f"model preset for a new model (with --parent scratch): {', '.join(PRESET_NAMES)}")
    p.add_argument("--parent", default=None,
                   help="start from: a version id, 'scratch', a preset (COCO weights) or a .pth file "
                        "(default: the active version, else a new light model)")
    p.add_argument("--classes", default=None, help="comma-separated classes (default: all with reviewed boxes)")
    p.add_argument("--batch-size", type=int, default=4, help="images per step (default 4)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 5e-4 from scratch, 1e-4 when fine-tuning)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: on where the CPU or GPU has native bf16)")
    p.add_argument("--no-cache", action="store_true", help="heads-only: do not cache backbone features")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, shuffling and new weights (default 0)")
    p.add_argument("--name", default=None, help="name of the new model version")
    p.add_argument("--activate", action="store_true", help="make the new version the active one")
    p.add_argument("--resume", type=int, default=None, metavar="RUN", help="continue training run RUN")
    p.add_argument("--scale-jitter", type=float, default=0.2,
                   help="random image scale in [1 - J, 1 + J] (default 0.2; 0 keeps every image at --size)")
    p.add_argument("--mosaic", type=float, default=0.0,
                   help="share of training images made of 4 random crops of 4 images (default 0: none)")
    p.add_argument("--fit-anchors", action="store_true",
                   help="a new model's anchors start at its smallest boxes instead of torchvision's 32 px")
    p.add_argument("--keep", choices=("best", "last"), default="best",
                   help="the version keeps the epoch with the best validation mAP (default) or the last")
    p.add_argument("--log-steps", type=Path, default=None, metavar="FILE",
                   help="write every step's losses to FILE (JSON lines: epoch, step, losses)")
    p.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                   help="train in N processes on this machine with DistributedDataParallel, started through "
                        "torchrun (one GPU each with NCCL, else gloo on the CPU); --batch-size is the whole "
                        "run's, each process takes batch / N. On several machines run `torchrun ... -m "
                        "detector_app train ...` on each instead")
    p.set_defaults(run="detector_app.cli.train_run:run_train")

    e = subparsers.add_parser("eval", help="COCO mAP of a model version on its validation images")
    add_project_argument(e)
    e.add_argument("--version", type=int, default=None, help="version id (default: the active version)")
    e.add_argument("--size", type=int, default=None,
                   help="input size (default: the version's training size, else the preset's)")
    e.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    e.set_defaults(run="detector_app.cli.train_run:run_eval")
