"""``detector-app detect``: its arguments; :mod:`detector_app.cli.detect_run` runs it (torch loads only there)."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector_app.cli.project_arg import add_project_argument
from detector_app.detection.preset_names import DEFAULT_PRESET, PRESET_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detect", help="detect objects in a video, webcam, image or image folder",
        description="Detect objects and write COCO results-style JSON (plus a file map) and/or an annotated video.",
    )
    p.add_argument("source", help="video file, image, image folder, or webcam (0, webcam:0)")
    p.add_argument("--out", type=Path, help="results JSON (a file map <name>.images.json is written beside it)")
    p.add_argument("--save-video", type=Path, metavar="VIDEO", help="write an annotated video (.mp4, .avi)")
    p.add_argument("--threshold", type=float, default=0.5, help="minimum score (default 0.5)")
    p.add_argument("--classes", help="comma-separated class names to keep, e.g. person,car")
    p.add_argument("--size", type=int, default=512, help="shorter image side fed to the model (default 512)")
    p.add_argument("--max-detections", type=int, default=100, help="per frame (default 100)")
    p.add_argument("--model", default=DEFAULT_PRESET,
                   help=f"preset ({', '.join(PRESET_NAMES)}), a .pth weight file or plugin:NAME[:OPTIONS] "
                        f"(default {DEFAULT_PRESET})")
    p.add_argument("--weights", choices=("default", "none"), default="default",
                   help="for a preset: pretrained (default) or none = random weights (testing only)")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--no-fast", action="store_true", help="plain fp32 (turn off the bf16/fp16 fast path)")
    p.add_argument("--int8", action="store_true",
                   help="CPU only: int8 through OpenVINO, calibrated on the first 8 frames and cached "
                        "(about 1.8x faster than bf16; scores within about 0.1 of fp32)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="process every Nth frame (default 1)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N processed frames")
    p.add_argument("--workers", type=int, help="frames inferred in parallel on a CPU (default: auto)")
    p.add_argument("--track", action="store_true",
                   help="videos and webcams: give each detection a track_id that follows its object across frames "
                        "(ByteTrack)")
    add_project_argument(p)
    for action in p._actions:  # the shared option reads "default: the default project"; here none is the default
        if action.dest == "project":
            action.help = ("also store every image or frame with its detections in this project (folder or team "
                           "database URL) as predictions to review, as Detect all does (frames of a video: only "
                           "those with detections)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the model on Ray actors: on the cluster at ADDRESS (ray://HOST:10001, or HOST:6379 on a "
                        "node of it), or, with no ADDRESS, on a Ray started on this machine for the run; needs "
                        "pip install 'detector-app[cluster]'")
    p.add_argument("--actors", type=int, default=2, metavar="N",
                   help="with --ray: N actors, one model each (default 2); each takes one CPU, or one GPU with "
                        "--device cuda")
    p.set_defaults(run="detector_app.cli.detect_run:run")
