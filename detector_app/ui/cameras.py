"""The webcam chooser: the cameras this computer has (found off the UI thread), and any index typed by hand."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QComboBox, QInputDialog, QWidget

from detector_app.sources.webcam import list_cameras
from detector_app.ui.workers import BackgroundTasks, CallWorker

OTHER = "other"  # the combo's "Other camera index…" entry
KEY = "source/camera"  # the camera number last started (not the combo row: the list changes with the hardware)


class CameraChoice(QObject):
    """Fills ``combo`` with "Camera N" per camera found plus "Other camera index…"; remembers the last one."""

    def __init__(self, window: QWidget, combo: QComboBox, settings: QSettings, tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.combo, self.settings = window, combo, settings
        self.found: list[int] | None = None  # None until the probe has answered
        self.fill([])  # the remembered camera and the manual entry, until the probe answers
        worker = CallWorker(list_cameras)
        worker.returned.connect(self.fill_found)
        tasks.start(worker)

    def remembered(self) -> int:
        value = self.settings.value(KEY, 0)
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            return 0

    def fill_found(self, found: list[int]) -> None:
        self.found = list(found)
        self.fill(self.found)

    def fill(self, cameras: list[int]) -> None:
        remembered = self.remembered()
        shown = cameras if self.found is not None else sorted({*cameras, remembered})
        self.combo.blockSignals(True)
        self.combo.clear()
        if not shown:
            self.combo.addItem("No camera found", None)
        for index in shown:
            self.combo.addItem(f"Camera {index}", index)
        self.combo.addItem("Other camera index…", OTHER)
        row = self.combo.findData(remembered)
        self.combo.setCurrentIndex(row if row >= 0 else 0)
        self.combo.blockSignals(False)
        self.combo.setToolTip("Webcam device" if self.found is None or self.found
                              else "No camera found: plug one in, or choose Other camera index…")

    def chosen(self) -> int | None:
        """The camera to start: the selected one, or an index asked for ("Other…"); None when cancelled."""
        data = self.combo.currentData()
        if data == OTHER:
            index, ok = QInputDialog.getInt(self.window, "Webcam", "Camera index (0 is the first camera):",
                                            self.remembered(), 0, 63)
            if not ok:
                return None
            data = index
        index = int(data) if data is not None else 0
        self.settings.setValue(KEY, index)
        return index
