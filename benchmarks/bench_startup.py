"""Start-up benchmark: wall time and peak memory of the commands that run no model, and the time until the
main window is first painted (issue 13: under 0.5 s for ``--help``, ``stats``, ``import``, ``export``,
``plugins``; no torch for them).

Every figure is the min and median of N fresh processes, printed beside two baselines measured in the same run
(``python -c pass`` and ``python -c "import torch"``), so a loaded machine shows as slow baselines too.
``--code PATH`` runs another checkout (e.g. a ``git worktree`` of the previous commit) for a before/after.

    .venv/bin/python benchmarks/bench_startup.py [--runs 7] [--code /tmp/start-base] [--no-gui] [--only stats,gui]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "cv2", "PySide6", "openvino", "nncf", "pycocotools")

# Run as the child: main(argv), then the heavy top-level packages it left in sys.modules (on stderr's last line).
CLI_CHILD = f"HEAVY = {HEAVY!r}\n" + """
import json, sys
from detector_app.cli.main import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
print('LOADED ' + json.dumps(heavy), file=sys.stderr)
sys.exit(rc)
"""

# Run as the child: the GUI as `detector-app` starts it, and an application-wide event filter that prints the
# first paint of the main window (and whether torch was imported by then), then ends the process at once.
GUI_CHILD = """
import os, sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
            print('PAINTED torch=%d' % ('torch' in sys.modules), flush=True)
            os._exit(0)
        return False

app = QApplication(sys.argv[:1])
spy = FirstPaint()
app.installEventFilter(spy)
from detector_app.cli.main import main
main(['gui', *sys.argv[1:]])
"""


@dataclass
class Sample:
    seconds: float
    peak_mb: float
    loaded: list[str]


def run_child(argv: list[str], env: dict[str, str], until: str | None = None) -> Sample:
    """One fresh process: wall time until it exits (or prints a line starting with ``until``), peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds, marker = None, ""
    if until is not None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(until):
                seconds, marker = time.perf_counter() - start, line
                break
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = seconds if seconds is not None else time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0 or (until is not None and not marker):
        last = [line for line in err.splitlines() if line.strip() and not line.startswith("LOADED ")][-1:]
        raise RuntimeError(f"exit {proc.returncode}: {last[0] if last else 'no output'}")
    loaded = next((json.loads(line[7:]) for line in err.splitlines()[::-1] if line.startswith("LOADED ")), [])
    if "torch=1" in marker:  # the GUI child: torch was imported before the window was first painted
        loaded = ["torch (before the first paint)"]
    return Sample(seconds, usage.ru_maxrss / 1024, loaded)  # ru_maxrss: KiB on Linux


def make_dataset(root: Path) -> Path:
    """Three small images and a COCO file with two boxes each."""
    from PIL import Image

    images = root / "images"
    images.mkdir(parents=True)
    coco: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "circle"},
                                                                  {"id": 2, "name": "square"}]}
    for i in range(3):
        Image.new("RGB", (64, 48), (40 * i, 80, 120)).save(images / f"img{i}.png")
        coco["images"].append({"id": i + 1, "file_name": f"img{i}.png", "width": 64, "height": 48})
        for k in range(2):
            coco["annotations"].append({"id": 2 * i + k + 1, "image_id": i + 1, "category_id": k + 1,
                                        "bbox": [4 + 10 * k, 4, 12, 10], "area": 120, "iscrowd": 0})
    path = root / "instances.json"
    path.write_text(json.dumps(coco))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="processes per command (default 7)")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose detector_app is measured")
    parser.add_argument("--no-gui", action="store_true", help="skip the time to the main window's first paint")
    parser.add_argument("--only", default="", help="comma-separated parts of command names to run (baselines always)")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        os.chdir(work)  # `python -c` puts the current folder first on sys.path: keep only --code's package there
        env = {**os.environ, "PYTHONPATH": str(args.code.resolve()), "DETECTOR_APP_HOME": str(work / "home"),
               "DETECTOR_APP_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen"}
        dataset = make_dataset(work / "data")
        template = work / "template"
        cli = [py, "-c", CLI_CHILD]
        images = str(dataset.parent / "images")
        empty = work / "empty"
        run_child([py, "-c", f"from detector_app.storage.project import Project\n"
                             f"with Project.open({str(empty)!r}, create=True): pass"], env)
        shutil.copytree(empty, template)
        run_child([*cli, "import", "coco", str(dataset), "--images", images, "--project", str(template)], env)
        counter = iter(range(10**6))

        def project_copy(source: Path = template) -> str:
            target = work / f"p{next(counter)}"
            shutil.copytree(source, target)
            return str(target)

        def out_dir() -> str:
            return str(work / f"out{next(counter)}")

        cases: list[tuple[str, Callable[[], list[str]], str | None]] = [
            ("python -c pass", lambda: [py, "-c", "pass"], None),
            ("python -c 'import torch'", lambda: [py, "-c", "import torch"], None),
            # The floor of the commands that open a project: SQLAlchemy's ORM alone.
            ("python -c 'import sqlalchemy.orm'", lambda: [py, "-c", "import sqlalchemy.orm"], None),
            ("--help", lambda: [*cli, "--help"], None),
            ("detect --help", lambda: [*cli, "detect", "--help"], None),
            ("stats", lambda: [*cli, "stats", "--project", project_copy()], None),
            ("import coco", lambda: [*cli, "import", "coco", str(dataset), "--images", images,
                                     "--project", project_copy(empty)], None),
            ("export coco", lambda: [*cli, "export", "coco", out_dir(), "--scope", "all",
                                     "--project", project_copy()], None),
            ("export yolo", lambda: [*cli, "export", "yolo", out_dir(), "--scope", "all",
                                     "--project", project_copy()], None),
            ("plugins", lambda: [*cli, "plugins"], None),
        ]
        if not args.no_gui:
            cases.append(("gui: first paint", lambda: [py, "-c", GUI_CHILD, "--project", project_copy()],
                          "PAINTED"))
        print(f"code: {args.code.resolve()}   python: {py}   {args.runs} runs each, fresh processes")
        print(f"{'command':<36}{'min s':>8}{'median s':>10}{'peak MB':>9}  heavy modules loaded")
        wanted = [w for w in args.only.split(",") if w]
        for name, make_argv, until in cases:
            if wanted and not name.startswith("python") and not any(w in name for w in wanted):
                continue
            samples = []
            try:
                for _ in range(args.runs):
                    argv = make_argv()  # copies a project where needed: not timed
                    samples.append(run_child(argv, env, until))
            except RuntimeError as exc:
                print(f"{name:<36}failed: {str(exc).strip().splitlines()[0][:200]}", flush=True)
                continue
            times = [s.seconds for s in samples]
            loaded = ", ".join(samples[-1].loaded) or "-"
            print(f"{name:<36}{min(times):>8.3f}{statistics.median(times):>10.3f}"
                  f"{statistics.median(s.peak_mb for s in samples):>9.0f}  {loaded}", flush=True)


if __name__ == "__main__":
    main()
