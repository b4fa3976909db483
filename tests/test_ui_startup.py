"""Start-up cost follows the layers in the GUI too: the main window is built and first painted without torch, and
only then does the model start loading on its background thread.

The window runs in a fresh interpreter (offscreen) that prints what it had imported at each step. Speed itself is
measured by ``benchmarks/bench_startup.py`` (its GUI first-paint case), not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision")

pytestmark = pytest.mark.gui

# Builds the window, shows it, and reports on its first paint and once the model load has been asked for; the
# process ends there (os._exit) without waiting for torch, which the loader thread may be importing by then.
CHILD = """
import json, os, sys
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

HEAVY = json.loads(sys.argv[3])

def heavy():
    return sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))

app = QApplication(sys.argv[:1])
from detector_app.ui.main_window import MainWindow

report = {'imported': heavy()}
settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
window = MainWindow(settings, project_path=sys.argv[2])
report['built'] = heavy()
report['requested_when_built'] = window.model.requested

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if obj is window and event.type() == QEvent.Type.Paint and 'painted' not in report:
            report['painted'] = heavy()
            report['requested_when_painted'] = window.model.requested
        return False

def done():
    if window.model.requested:
        report['requested_after_paint'] = True
        print('REPORT ' + json.dumps(report), flush=True)
        os._exit(0)

spy = FirstPaint()
app.installEventFilter(spy)
poll = QTimer()
poll.timeout.connect(done)
poll.start(10)
window.show()
QTimer.singleShot(60_000, lambda: (print('REPORT ' + json.dumps(report), flush=True), os._exit(1)))
app.exec()
"""


def test_main_window_is_built_and_painted_before_torch_is_imported(tmp_path: Path) -> None:
    settings = tmp_path / "settings.ini"
    settings.write_text("[model]\npreset=retinanet_light\nweights=none\nsize=320\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", "DETECTOR_APP_OFFLINE": "1",
           "DETECTOR_APP_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(settings), str(tmp_path / "project"), json.dumps(HEAVY)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    report = next((json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert report is not None, proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert report["imported"] == [] and report["built"] == [], report
    assert report["painted"] == [], report
    assert not report["requested_when_built"] and not report["requested_when_painted"], report
    assert report["requested_after_paint"], report
