"""Training in several processes: torchrun starts them, DistributedDataParallel keeps their models equal.

Every process plans the same run, walks the same shuffled global batches (``features.index_batches``, seeded by
the run's seed and the epoch) and trains its share of each: process ``r`` of ``N`` takes the items ``r, r + N, ...``
of a batch, as ``torch.utils.data.DistributedSampler`` interleaves them, so with ``--batch-size B`` each process
gets ``B / N`` images and together they see exactly the batch one process would. Each sample's augmentation is
drawn from its own seed, not from the process that loads it.

DDP averages gradients over the processes; each process's loss is weighted by its share of the batch, so the
average is the gradient of the whole batch's mean loss even when the last batch does not split evenly (a process
left without an image trains a copy of one with weight 0: every process must join every gradient exchange).
The loss values each step reports are the whole batch's, the same on every process.

BatchNorm layers that train (a new light model, ``--freeze all``) see only their process's images: on GPUs they
become ``SyncBatchNorm``, which pools the statistics over the processes; gloo on a CPU has no such layer, so
there such a run is close to, not equal to, a one-process run. Frozen or pretrained BatchNorm (every freeze level
of a fine-tune) is exact. Images of different sizes in one batch are padded to the largest of the process's share,
not of the whole batch, which also changes the loss slightly (``scale_jitter`` 0 and equal image sizes avoid it).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torchvision.models.detection import RetinaNet

from detector_app.errors import TrainingError
from detector_app.training.model_setup import pick_device

T = TypeVar("T")
LossFn = Callable[[RetinaNet, Any, torch.device, bool], dict[str, torch.Tensor]]
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = datetime.timedelta(minutes=30)  # a process waits this long for the others (rank 0 evaluating, say)


def launched_by_torchrun() -> bool:
    """True in a process that torchrun (``torch.distributed.run``) started."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def shard(items: Sequence[T], rank: int, world_size: int) -> tuple[list[T], float]:
    """Process ``rank``'s part of a global batch and its share of the batch's images.

    A process left without an item gets the first one with share 0 (it must still join the gradient exchange).
    """
    mine = list(items[rank::world_size])
    if not mine:
        return [items[0]], 0.0
    return mine, len(mine) / len(items)


@dataclass
class Distributed:
    """This process's place in a torchrun run and the few collective steps the training needs."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str
    share: float = 1.0  # of the batch handed out last (``batches``), read by the loss (``wrap_loss``)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes (database, checkpoints, model files) and reports progress."""
        return self.rank == 0

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` in every process."""
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device if self.backend == "nccl" else None)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order, in every process."""
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def batches(self, global_batches: Iterable[Sequence[T]], load: Callable[[list[T]], Any]) -> Iterator[Any]:
        """This process's share of each global batch, loaded; ``share`` follows the batch last handed out."""
        for items in global_batches:
            mine, self.share = shard(items, self.rank, self.world_size)
            yield load(mine)

    def prepare(self, model: RetinaNet) -> RetinaNet:
        """Training BatchNorm pools its statistics over the processes where the backend can (NCCL)."""
        if self.backend == "nccl":
            return nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def wrap_loss(self, model: RetinaNet, loss_fn: LossFn, bf16: bool) -> LossFn:
        """``loss_fn`` run through DDP: gradients averaged over the processes, the values of the whole batch."""
        ddp = DistributedDataParallel(_LossModule(model, loss_fn, self.device, bf16),
                                      device_ids=[self.device.index] if self.device.type == "cuda" else None)

        def loss(_model: RetinaNet, batch: Any, _device: torch.device, _bf16: bool) -> dict[str, torch.Tensor]:
            local = ddp(batch)
            weight = self.share * self.world_size  # DDP divides the summed gradients by world_size
            total = torch.stack([v.detach().float() for v in local.values()]) * self.share
            dist.all_reduce(total)  # the share-weighted sum: each loss of the whole batch
            # The gradient of the weighted local loss, the value of the whole batch's: every process reports
            # (and checks for non-finite) the same numbers, so they all stop together.
            return {k: v * weight + (total[i] - v * weight).detach() for i, (k, v) in enumerate(local.items())}

        return loss

    def agreed_cancel(self, cancel: threading.Event | Any) -> _AgreedCancel:
        return _AgreedCancel(cancel, self.device)


class _LossModule(nn.Module):
    """The model and its loss function as one module, so that DDP sees the forward pass the loss runs."""

    def __init__(self, model: RetinaNet, loss_fn: LossFn, device: torch.device, bf16: bool) -> None:
        super().__init__()
        self.model = model
        self.loss_fn, self.device, self.bf16 = loss_fn, device, bf16

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        return self.loss_fn(self.model, batch, self.device, self.bf16)


class _AgreedCancel:
    """A cancel that every process sees at the same step: set when any process's own event is set."""

    def __init__(self, local: threading.Event | Any, device: torch.device) -> None:
        self.local, self.device = local, device

    def is_set(self) -> bool:
        flag = torch.tensor([1.0 if self.local.is_set() else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def set(self) -> None:
        self.local.set()


def local_device(spec: str, local_rank: int) -> torch.device:
    """GPU ``local_rank`` when the run is on GPUs (one per process), else the CPU."""
    device = pick_device(spec)
    if device.type != "cuda":
        return device
    if local_rank >= torch.cuda.device_count():
        raise TrainingError(f"process {local_rank} has no GPU of its own: this machine has "
                            f"{torch.cuda.device_count()}; start at most that many processes per node")
    return torch.device("cuda", local_rank)


@contextlib.contextmanager
def process_group(device_spec: str = "auto") -> Iterator[Distributed]:
    """Join the torchrun run this process belongs to (gloo on the CPU, NCCL on GPUs); leave it afterwards."""
    if not launched_by_torchrun():
        raise TrainingError("not started by torchrun: run `detector-app train --nproc-per-node N ...` or "
                            "`torchrun --nproc-per-node N -m detector_app train ...`")
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    device = local_device(device_spec, local)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=TIMEOUT)
    try:
        yield Distributed(rank, world, local, device, backend)
    finally:
        dist.destroy_process_group()


def check_batch_size(batch_size: int, world_size: int) -> None:
    """The batch is the whole run's: it must split evenly among the processes."""
    if batch_size % world_size:
        raise TrainingError(f"--batch-size {batch_size} does not split among {world_size} processes: give a "
                            f"multiple of {world_size} (the batch is the whole run's, each process takes "
                            f"batch / {world_size})")
