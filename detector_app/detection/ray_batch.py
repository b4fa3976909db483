"""Detection over a whole folder or video on a Ray cluster: Ray actors, one model each, map it over the frames.

The driver reads the frames (the same source, the same skipped files as on one machine) and sends each image to an
actor; the results come back in the frames' order, as ``batch.detect_frames`` gives them, so what consumes them
(the results file, the project) is the same code on one machine and on many. The model is loaded once, on the
driver, and shipped to the actors through Ray's object store: every actor runs the same weights, and no node needs
the weight file or a download. The nodes need this package installed, as the driver has it.

Ray is an optional dependency (``pip install 'detector-app[cluster]'``), imported only here and only when a run
asks for it, so neither the CLI's start-up nor the window ever loads it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from detector_app.core.detections import Detections
from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.weights import LoadedModel
from detector_app.errors import DetectorAppError
from detector_app.sources.base import Frame

RAY_MISSING = "--ray needs Ray, which is not installed: pip install 'detector-app[cluster]'"
IN_FLIGHT_PER_ACTOR = 2  # one image being inferred, the next one already there
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2  # a local Ray's store: the model and a few images in flight


@dataclass(frozen=True)
class RayPlan:
    """Where the actors run and how many: ``address`` None starts a Ray on this machine for the run."""

    address: str | None = None
    actors: int = 2
    cpus_per_actor: int = 1
    gpus_per_actor: float = 0.0

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise DetectorAppError(f"--actors must be at least 1, got {self.actors}")


def import_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        # Here, not at the top: Ray is an optional extra and takes seconds to import.
        import ray
    except ImportError:
        raise DetectorAppError(RAY_MISSING) from None
    return ray


@contextlib.contextmanager
def ray_cluster(plan: RayPlan) -> Iterator[Any]:
    """Ray connected for the run: the cluster at ``plan.address``, or a local Ray started now and shut down after
    (sized for the actors: their CPUs, a small object store, no dashboard)."""
    ray = import_ray()
    if ray.is_initialized():  # a caller (a notebook, a test) already joined a cluster: use it, leave it up
        yield ray
        return
    try:
        if plan.address is None:
            ray.init(num_cpus=plan.actors * plan.cpus_per_actor, num_gpus=_local_gpus(plan),
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False,
                     logging_level="warning", log_to_driver=False)
        else:
            ray.init(address=plan.address, logging_level="warning", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise DetectorAppError(f"cannot start or reach Ray at {plan.address or 'this machine'}: "
                               f"{_first_line(exc)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _local_gpus(plan: RayPlan) -> int:
    return torch.cuda.device_count() if plan.gpus_per_actor else 0


class DetectorActor:
    """One model on one Ray worker (made a Ray actor class in ``ray_detect_frames``)."""

    def __init__(self, loaded: LoadedModel, config: DetectorConfig, threads: int) -> None:
        torch.set_num_threads(threads)
        self.detector = Detector(loaded, config)

    def describe(self) -> tuple[str, str]:
        return str(self.detector.device), self.detector.precision

    def predict(self, image: Any) -> Detections:
        return self.detector.predict(image)


def ray_detect_frames(frames: Iterable[Frame], loaded: LoadedModel, config: DetectorConfig, plan: RayPlan,
                      ray: Any) -> Iterator[tuple[Frame, Detections]]:
    """``(frame, detections)`` for every frame, in order, inferred by ``plan.actors`` actors of the Ray that
    ``ray_cluster`` connected (frames handed out in turn, a few in flight per actor)."""
    _check_resources(ray, plan)
    actor_class = ray.remote(num_cpus=plan.cpus_per_actor, num_gpus=plan.gpus_per_actor)(DetectorActor)
    model = ray.put(loaded)
    actors = [actor_class.remote(model, config, plan.cpus_per_actor) for _ in range(plan.actors)]
    pending: deque[tuple[Frame, Any]] = deque()
    try:
        for i, frame in enumerate(frames):
            pending.append((frame, actors[i % len(actors)].predict.remote(frame.image)))
            if len(pending) >= IN_FLIGHT_PER_ACTOR * len(actors):
                done, ref = pending.popleft()
                yield done, _get(ray, ref)
        while pending:
            done, ref = pending.popleft()
            yield done, _get(ray, ref)
    finally:
        for actor in actors:
            ray.kill(actor)


def describe_actors(ray: Any, plan: RayPlan) -> str:
    """For the summary line: where the actors run."""
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return f"{plan.actors} Ray actors on {nodes} node(s)"


def _check_resources(ray: Any, plan: RayPlan) -> None:
    """Refuse a run whose actors the cluster cannot place (Ray would wait for them for ever)."""
    have = ray.cluster_resources()
    for name, each in (("CPU", plan.cpus_per_actor), ("GPU", plan.gpus_per_actor)):
        need = each * plan.actors
        if need > have.get(name, 0):
            raise DetectorAppError(f"the Ray cluster has {have.get(name, 0):g} {name}(s), {plan.actors} actors "
                                   f"need {need:g}: give fewer --actors")


def _get(ray: Any, ref: Any) -> Detections:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        raise DetectorAppError(f"a Ray actor failed: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
