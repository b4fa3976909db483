"""Helpers for the GUI tests: a window on a throw-away project, mouse drags in scene coordinates."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from detector_app.core.detections import Detections
from detector_app.storage.project import Project
from detector_app.ui.main_window import MainWindow


def make_settings(tmp_path: Path, **values: object) -> QSettings:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("model/preset", "retinanet_light")
    settings.setValue("model/weights", "none")
    settings.setValue("model/size", 320)
    for key, value in values.items():
        settings.setValue(key.replace("__", "/"), value)
    settings.sync()
    return settings


def active_window(qtbot, settings: QSettings, project_dir: Path, size: tuple[int, int] | None = (1200, 800)):
    """The main window on ``project_dir``, shown and active: window shortcuts (D, 1-9, Ctrl+Z) need the active
    window."""
    win = MainWindow(settings, project_path=project_dir)
    qtbot.addWidget(win)
    if size is not None:
        win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    return win


def write_image(path: Path, width: int = 640, height: int = 480, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    cv2.rectangle(image, (100, 100), (300, 250), (0, 200, 0), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def seed_project(project_dir: Path) -> int:
    """One image with two predictions (cat 0.9, dog 0.8) and categories cat, dog, bird."""
    with Project.open(project_dir) as project:
        repo = project.repo
        image = repo.add_image(write_image(project_dir / "images" / "a.jpg"))
        for name in ("cat", "dog", "bird"):
            repo.ensure_category(name)
        dets = Detections(np.array([[100, 100, 300, 250], [350, 200, 500, 400]], np.float32),
                          np.array([0.9, 0.8]), np.array([1, 2]), ("__background__", "cat", "dog"))
        repo.add_predictions(image.id, dets)
        return image.id


def drag(widget, canvas, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at ``start``, move in steps, release at ``end`` (scene = image pixel coordinates)."""
    viewport = canvas.viewport()
    a: QPoint = canvas.mapFromScene(*start)
    b: QPoint = canvas.mapFromScene(*end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, 6):
        QTest.mouseMove(viewport, a + (b - a) * (i / 5))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def click(canvas, point: tuple[float, float]) -> None:
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     canvas.mapFromScene(*point))
