"""``detector-app detect``: run a detector over a video, webcam, image or image folder, without the GUI.

The arguments are registered in :mod:`detector_app.cli.detect_cmd`; this module loads torch and the detector.
With ``--ray`` the frames are inferred by Ray actors (``detection.ray_batch``, Ray imported only then); their results
go to the same sink (results file, video, project) as those of one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import queue
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from detector_app.cli.project_arg import open_project
from detector_app.core.detections import Detections
from detector_app.core.draw import draw_detections
from detector_app.core.names import printable
from detector_app.detection.batch import boxes_to_store, detect_frames
from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.live import LivePipeline, LiveResult
from detector_app.detection.ray_batch import (
    RayPlan,
    describe_actors,
    import_ray,
    ray_cluster,
    ray_detect_frames,
)
from detector_app.detection.results_file import ResultsWriter
from detector_app.detection.video_writer import VideoWriter
from detector_app.detection.weights import LoadedModel, load_model
from detector_app.errors import DetectorAppError
from detector_app.plugins_api.detectors import create_detector
from detector_app.plugins_api.hooks import is_plugin_model
from detector_app.plugins_api.sources import open_any_source
from detector_app.review.predictions import store_frame
from detector_app.sources import Frame, FrameSource
from detector_app.storage.repository import Repository

log = logging.getLogger(__name__)
EXIT_INTERRUPTED = 130


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    source = open_any_source(args.source)
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.closing(source))
        if args.ray is not None:
            _check_ray_args(args, source)
        config = DetectorConfig(size=args.size, score_threshold=args.threshold, classes=_parse_classes(args.classes),
                                max_detections=args.max_detections, device=args.device, fast=not args.no_fast,
                                int8=args.int8)
        loaded: LoadedModel | None = None
        if is_plugin_model(args.model):  # --model plugin:NAME[:OPTIONS]: a detector plugin's model
            detector = create_detector(args.model, config)
        else:
            loaded = load_model(args.model, weights=args.weights, seed=args.seed)
            detector = Detector(loaded, config)
        fps = (source.fps or 10.0) / args.every
        sink = _Sink(detector, args.out, VideoWriter(args.save_video, fps) if args.save_video else None)
        if args.project is not None:
            sink.store = _ProjectStore(stack.enter_context(open_project(args.project)).repo, args.threshold,
                                       only_with_detections=source.kind != "image")
        if args.track:
            sink.track(source, fps)
        if args.int8:
            problem = getattr(detector, "int8_problem", "int8 works with the built-in RetinaNet presets only")
            if problem:
                raise DetectorAppError(f"--int8: {problem}")
        log.info("detect %s with %s on %s (%s)", args.source, detector.name, detector.device,
                 getattr(detector, "int8_status", None) or detector.precision)
        interrupted = False
        try:
            if source.is_live:
                _run_live(source, detector, sink, args)
            elif args.ray is not None:
                assert loaded is not None  # _check_ray_args refused a plugin model
                _run_on_ray(source, loaded, config, sink, args)
            else:
                _run_files(source, detector, sink, args)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sink.finish(source, interrupted)
    return EXIT_INTERRUPTED if interrupted else 0


def _check_args(args: argparse.Namespace) -> None:
    if args.every < 1:
        raise DetectorAppError(f"--every must be at least 1, got {args.every}")
    if args.max_frames is not None and args.max_frames < 1:
        raise DetectorAppError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.out is not None and args.out.is_dir():
        raise DetectorAppError(f"--out {args.out} is a folder; give a file name such as results.json")


def _check_ray_args(args: argparse.Namespace, source: FrameSource) -> None:
    import_ray()  # installed? (one line if not, before a model loads or a project opens)
    if source.is_live:
        raise DetectorAppError("--ray runs over a folder, an image or a video, not a live source")
    if is_plugin_model(args.model) or args.int8:
        raise DetectorAppError("--ray runs the built-in RetinaNet models (a preset or a .pth file), without --int8")


def _parse_classes(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    return names or None


def _selected(source: FrameSource, every: int, limit: int | None) -> tuple[Iterable[Frame], int | None]:
    frames: Iterable[Frame] = islice(source, 0, None, every)
    total = math.ceil(source.frame_count / every) if source.frame_count is not None else None
    if limit is not None:
        frames = islice(frames, limit)
        total = limit if total is None else min(total, limit)
    return frames, total


def _run_files(source: FrameSource, detector: Detector, sink: _Sink, args: argparse.Namespace) -> None:
    frames, total = _selected(source, args.every, args.max_frames)
    with _progress(total, source) as bar, contextlib.closing(_results(frames, detector, args.workers)) as results:
        for frame, detections in results:
            sink.add(frame, detections)
            bar.update()
            bar.set_postfix_str(f"{sink.boxes} boxes", refresh=False)


def _results(frames: Iterable[Frame], detector: Detector, workers: int | None) -> Iterator[tuple[Frame, Detections]]:
    yield from detect_frames(frames, detector, workers=workers)


def _run_on_ray(source: FrameSource, loaded: LoadedModel, config: DetectorConfig, sink: _Sink,
                args: argparse.Namespace) -> None:
    """As ``_run_files``, the model mapped over the frames by Ray actors (one model each)."""
    on_gpu = args.device.startswith("cuda")
    plan = RayPlan(None if args.ray == "local" else args.ray, args.actors, gpus_per_actor=1.0 if on_gpu else 0.0)
    frames, total = _selected(source, args.every, args.max_frames)
    with ray_cluster(plan) as ray, _progress(total, source) as bar:
        sink.where = describe_actors(ray, plan)
        for frame, detections in ray_detect_frames(frames, loaded, config, plan, ray):
            sink.add(frame, detections)
            bar.update()
            bar.set_postfix_str(f"{sink.boxes} boxes", refresh=False)


def _run_live(source: FrameSource, detector: Detector, sink: _Sink, args: argparse.Namespace) -> None:
    """Webcam: latest-frame-wins, so results keep up with the scene; stop with Ctrl-C or --max-frames."""
    results: queue.Queue[LiveResult] = queue.Queue()
    errors: list[BaseException] = []
    pipeline = LivePipeline(source, detector, results.put, on_error=errors.append, pace=False,
                            close_source=False).start()
    try:
        with _progress(args.max_frames, source) as bar:
            while pipeline.running or not results.empty():
                with contextlib.suppress(queue.Empty):
                    item = results.get(timeout=0.2)
                    sink.add(item.frame, item.detections)
                    bar.update()
                    bar.set_postfix_str(f"{item.stats.inference_fps:.1f} fps, {item.latency_s * 1000:.0f} ms")
                    if args.max_frames is not None and sink.frames >= args.max_frames:
                        break
    finally:
        pipeline.stop()
    if errors:  # a lost stream or a failed frame: the results so far are still written (sink.finish)
        raise DetectorAppError(f"{source.description} stopped after {sink.frames} frame(s): {errors[0]}")


def _progress(total: int | None, source: FrameSource) -> tqdm:
    return tqdm(total=total, unit="frame", desc=source.description, file=sys.stderr, mininterval=0.5,
                dynamic_ncols=True)


class _Sink:
    """Where results go: the JSON writer, the annotated video and the summary counts."""

    def __init__(self, detector: Detector, out: Path | None, video: VideoWriter | None) -> None:
        self.detector, self.out, self.video = detector, out, video
        self.writer = ResultsWriter(detector.class_names)
        self.per_class: Counter[str] = Counter()
        self.track_ids: Callable[[Detections], list[int | None]] | None = None
        self.frames = 0
        self.boxes = 0
        self.started = time.monotonic()
        self.store: _ProjectStore | None = None
        self.where = f"{detector.precision} on {detector.device}"

    def track(self, source: FrameSource, rate: float) -> None:
        """Give detections track ids (``--track``), the tracker updated at ``rate`` frames a second."""
        if source.kind == "image":
            raise DetectorAppError("--track needs a video or a webcam: images of a folder are not a sequence")
        # Imported here: scipy.optimize adds about a second to every run, and only --track needs it.
        from detector_app.tracking import NO_TRACK, Tracker, TrackerConfig

        tracker = Tracker(TrackerConfig(rate=rate))
        self.track_ids = lambda d: [None if t == NO_TRACK else int(t) for t in tracker.update(d).track_ids]

    def add(self, frame: Frame, detections: Detections) -> None:
        self.writer.add(frame, detections, self.track_ids(detections) if self.track_ids is not None else None)
        if self.video is not None:
            self.video.write(draw_detections(frame.image, detections))
        self.per_class.update(detections.names)
        self.frames += 1
        self.boxes += len(detections)
        if self.store is not None:
            self.store.add(frame, detections)

    def finish(self, source: FrameSource, interrupted: bool) -> None:
        """Write what was done (also after Ctrl-C) and print a summary."""
        if self.video is not None:
            self.video.close()
        elapsed = max(1e-9, time.monotonic() - self.started)
        state = "interrupted after" if interrupted else "done:"
        print(f"{state} {self.frames} frames, {self.boxes} detections in {elapsed:.1f} s "
              f"({self.frames / elapsed:.2f} frames/s, {self.where})")
        if self.per_class:
            print("classes: " + ", ".join(f"{printable(n)} {c}" for n, c in self.per_class.most_common(10)))
        if self.out is not None:
            results, file_map = self.writer.write(self.out)
            print(f"results: {results} (file map: {file_map})")
        if self.video is not None and self.video.frames:
            print(f"annotated video: {self.video.path}")
        if self.store is not None:
            print(self.store.summary())
        for path, reason in source.skipped:
            print(f"skipped {printable(path)}: {printable(reason)}")


class _ProjectStore:
    """``--project``: each frame stored as Detect all stores it (``boxes_to_store``, then ``store_frame``)."""

    def __init__(self, repo: Repository, threshold: float, only_with_detections: bool) -> None:
        self.repo, self.threshold, self.only_with_detections = repo, threshold, only_with_detections
        self.stored = self.boxes = self.empty = self.kept = 0

    def add(self, frame: Frame, detections: Detections) -> None:
        boxes = boxes_to_store(detections, self.threshold, self.only_with_detections)
        if boxes is None:
            self.empty += 1
            return
        stored = store_frame(self.repo, frame, boxes, None)
        if stored.left_alone:
            self.kept += 1
        else:
            self.stored += 1
            self.boxes += stored.added

    def summary(self) -> str:
        parts = [f"project: {self.stored} stored with {self.boxes} boxes to review"]
        if self.empty:
            parts.append(f"{self.empty} without detections not stored")
        if self.kept:
            parts.append(f"{self.kept} already labelled or reviewed, kept as they were")
        return ", ".join(parts)
