"""Training through torchrun and DistributedDataParallel: 2 gloo processes on the CPU against 1 process.

The two runs share the global batch (4), the seed, the data order and each sample's augmentation (flip and colour
jitter on; scale jitter off, so the images of a batch keep one size and pad alike). The parent is a light model
fine-tuned with its backbone frozen (``--freeze fpn``), so its BatchNorm layers use their stored statistics: the
processes compute exactly what one process does, up to the order of floating-point sums.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from detector_app.cli.main import build_parser, main
from detector_app.cli.train_run import command_line
from detector_app.detection.presets import build_model
from detector_app.storage import Project
from detector_app.training import register_version
from detector_app.training.data import Sample
from detector_app.training.distributed import shard

from .ddp_one_step import ddp_process, one_step
from .synthetic_shapes import make_shapes_dataset

# Per-step losses of the two runs agree to this absolute difference (measured: see the test's assertion message).
LOSS_TOLERANCE = 1e-4
WEIGHT_TOLERANCE = 1e-4
CLASSES = ("__background__", "circle", "square", "triangle")


def test_the_shares_of_a_batch_make_up_the_whole_batch() -> None:
    batch = list(range(7))
    for world in (1, 2, 3, 4):
        parts = [shard(batch, rank, world) for rank in range(world)]
        assert sorted(i for items, _ in parts for i in items) == batch  # each item once, none lost
        assert sum(share for _, share in parts) == pytest.approx(1.0)
    assert shard([5], 1, 2) == ([5], 0.0)  # a process left without an image trains a copy at weight 0
    assert shard([0, 1, 2, 3], 1, 2) == ([1, 3], 0.5)  # interleaved, as DistributedSampler does


def test_the_launcher_starts_each_process_with_the_same_options() -> None:
    argv = ["train", "--project", "postgresql+psycopg://u:secret@h/db", "--media-root", "/m", "--epochs", "3",
            "--no-bf16", "--no-cache", "--batch-size", "8", "--scale-jitter", "0", "--nproc-per-node", "2"]
    args = build_parser().parse_args(argv)
    again = build_parser().parse_args(["train", *command_line(args)])
    assert "--nproc-per-node" not in command_line(args)
    assert {**vars(again), "nproc_per_node": 2} == vars(args)  # the password travels to the processes as given


def test_batch_that_does_not_split_is_refused_before_any_process_starts(shapes_project_dir: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--project", str(shapes_project_dir), "--batch-size", "3", "--nproc-per-node", "2"])
    assert code == 2
    assert "--batch-size 3 does not split among 2 processes" in capsys.readouterr().err


@pytest.mark.slow  # spawns 2 processes that import torch: about 15 s idle, 2 min on a busy 2-core box
def test_one_step_in_two_gloo_processes_equals_one_process(tmp_path: Path) -> None:
    """3 images on 2 processes (2 + 1, weighted 2/3 and 1/3): the whole batch's losses and gradient."""
    data = make_shapes_dataset(3, seed=5, out_dir=tmp_path, size=64)
    samples = [Sample(i, d.path, 64, 64, d.boxes, d.labels) for i, d in enumerate(data.images)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(ddp_process, args=(port, samples, tmp_path / "ddp.pt"), nprocs=2, start_method="spawn")
    losses, grad = torch.load(tmp_path / "ddp.pt")
    one_losses, one_grad = one_step(samples)
    assert losses == pytest.approx(one_losses, abs=LOSS_TOLERANCE)
    assert float((grad - one_grad).abs().max()) <= 1e-5 * max(1.0, float(one_grad.abs().max()))


def test_a_missing_project_is_one_line_before_any_process_starts(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--project", str(tmp_path / "nope"), "--nproc-per-node", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nope" in err[0]


def _steps(path: Path) -> list[dict[str, float]]:
    return [json.loads(line)["losses"] for line in path.read_text().splitlines()]


@pytest.mark.slow  # torchrun, two processes and a one-process baseline: about 1 min idle, 3 on a busy 2-core box
@pytest.mark.parametrize("freeze", ["fpn", "heads"])  # images through backbone + FPN; cached features (heads only)
def test_two_gloo_processes_train_like_one_and_register_one_version(shapes_project_dir: Path, tmp_path: Path,
                                                                    freeze: str) -> None:
    with Project.open(shapes_project_dir, create=False) as project:
        torch.manual_seed(0)
        parent = register_version(project, build_model("retinanet_light", len(CLASSES)), preset="retinanet_light",
                                  class_names=CLASSES, parent_id=None, settings={"size": 64}, metrics={})
    common = ["train", "--project", str(shapes_project_dir), "--parent", str(parent.id), "--freeze", freeze,
              "--size", "64", "--batch-size", "4", "--epochs", "1", "--val-share", "0.25", "--scale-jitter", "0",
              "--device", "cpu", "--threads", "1", "--no-bf16", "--seed", "3"]
    assert main([*common, "--name", "one", "--log-steps", str(tmp_path / "one.jsonl")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "detector_app", *common, "--name", "two", "--nproc-per-node", "2",
                           "--log-steps", str(tmp_path / "two.jsonl")],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "model version two" in done.stdout  # printed once, by rank 0

    one, two = _steps(tmp_path / "one.jsonl"), _steps(tmp_path / "two.jsonl")
    assert len(one) == len(two) == 3  # 9 training images: batches of 4, 4 and 1 (the 1 on rank 0 only)
    diff = max(abs(a[k] - b[k]) for a, b in zip(one, two, strict=True) for k in a)
    assert diff <= LOSS_TOLERANCE, f"max per-step loss difference {diff:.3g}"
    print(f"max per-step loss difference, 2 processes vs 1: {diff:.3g}")

    with Project.open(shapes_project_dir, create=False) as project:
        versions = {v.name: v for v in project.repo.model_versions()}
        assert sorted(versions) == sorted([parent.name, "one", "two"])  # the distributed run registered once
        runs = project.repo.training_runs()
        assert [r.status for r in runs] == ["finished", "finished"]
        weights = [torch.load(versions[n].weights_path, weights_only=False)["state_dict"] for n in ("one", "two")]
    worst = max(float((weights[0][k].float() - weights[1][k].float()).abs().max()) for k in weights[0])
    assert worst <= WEIGHT_TOLERANCE, f"max weight difference {worst:.3g}"
