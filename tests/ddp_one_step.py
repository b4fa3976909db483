"""One training step of the light model, in this process or as one process of a 2-process gloo group.

A module of its own so that the spawned processes import only this, torch and the training code (not the test
suite's fixtures)."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
import torch

from detector_app.detection.presets import build_model
from detector_app.training.data import DetectionDataset, Sample, make_transform
from detector_app.training.distributed import Distributed, process_group
from detector_app.training.features import batch_loss, index_batches, load_batch
from detector_app.training.model_setup import apply_freeze, set_train_mode

CLASSES = ("circle", "square", "triangle")


def one_step(samples: list[Sample], dist: Distributed | None = None) -> tuple[dict[str, float], torch.Tensor]:
    """Losses and gradient of one step on all of ``samples`` (this process's share of it when ``dist``)."""
    dataset = DetectionDataset(samples, CLASSES, make_transform(64, 0.0, flip=True, photometric=True))
    torch.manual_seed(0)
    model = build_model("retinanet_light", len(CLASSES) + 1)
    params = apply_freeze(model, "fpn")  # the backbone's BatchNorm keeps its statistics
    set_train_mode(model, "fpn")
    items = next(index_batches(len(dataset), len(samples), np.random.default_rng(1)))
    if dist is None:
        losses = batch_loss(model, load_batch(dataset, items), torch.device("cpu"), False)
    else:
        loss_fn = dist.wrap_loss(model, batch_loss, False)
        losses = loss_fn(model, next(dist.batches([items], partial(load_batch, dataset))), dist.device, False)
    sum(losses.values()).backward()
    return {k: float(v.detach()) for k, v in losses.items()}, torch.cat([p.grad.flatten() for p in params])


def ddp_process(rank: int, port: int, samples: list[Sample], out: Path) -> None:
    """Process ``rank`` of 2 (torch.multiprocessing's entry point); rank 0 saves the result to ``out``."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    with process_group("cpu") as dist:
        result = one_step(samples, dist)
    if rank == 0:
        torch.save(result, out)
