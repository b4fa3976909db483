"""Which model runs, on what device and precision: the Model menu's actions, loading weights in the
background, the project's model versions, plugin detectors and the training dialog."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu, QWidget

from detector_app.detection.config import DetectorConfig
from detector_app.detection.preset_names import PRESET_DESCRIPTIONS
from detector_app.errors import DetectorAppError
from detector_app.plugins_api import get_manager
from detector_app.ui import model_loading
from detector_app.ui.actions import make_action
from detector_app.ui.messages import Messages
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.workers import BackgroundTasks, CallWorker, failure_message

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector

SIZES = (320, 512, 640, 800)
DEVICES = ("auto", "cpu", "cuda")


class ModelController(QObject):
    """Owns ``detector``; says ``detector_changed`` when another one runs."""

    detector_changed = Signal(object)  # Detector

    def __init__(self, window: QWidget, settings: QSettings, projects: ProjectController, messages: Messages,
                 status_model: QLabel, status_device: QLabel, tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.settings, self.projects, self.messages = window, settings, projects, messages
        self.status_model, self.status_device, self.tasks = status_model, status_device, tasks
        self.detector: Detector | None = None
        self.requested = False  # a model was asked for (load_model) or given (set_detector)
        self.train_dialog = None  # the open TrainDialog, kept referenced
        self.preset_group = self._preset_group()
        self.act_load_weights = make_action(window, "Load weights file…", self.choose_weights_file, icon="import")
        self.act_untrained = make_action(window, "Use untrained weights (testing)", self.use_untrained,
                                         checkable=True)
        self.act_untrained.setChecked(settings.value("model/weights", "default") == "none")
        self.device_group = self._choice_group(DEVICES, "model/device", "auto")
        self.size_group = self._choice_group(SIZES, "model/size", 512)
        self.act_fast = make_action(window, "Fast path (bf16 / channels-last)", self.apply_detector_config,
                                    checkable=True)
        self.act_fast.setChecked(settings.value("model/fast", True, type=bool))
        self.act_int8 = make_action(window, "Int8 on the CPU (OpenVINO; calibrates on the first 8 frames)",
                                    self.apply_detector_config, checkable=True)
        self.act_int8.setChecked(settings.value("model/int8", False, type=bool))
        self.act_train = make_action(window, "Train on reviewed labels…", self.open_train_dialog, "Ctrl+T",
                                     icon="train")

    def _preset_group(self) -> QActionGroup:
        group = QActionGroup(self)
        for name, description in PRESET_DESCRIPTIONS.items():
            act = QAction(f"{name} — {description}", self, checkable=True)
            act.setData(name)
            act.triggered.connect(partial(self.choose_preset, name))
            group.addAction(act)
        return group

    def _choice_group(self, values: Iterable[object], key: str, default: object) -> QActionGroup:
        """One checkable action per value (a device, an input size), the remembered one checked."""
        group = QActionGroup(self)
        current = str(self.settings.value(key, default))
        for value in values:
            act = QAction(str(value), self, checkable=True)
            act.setData(value)
            act.setChecked(str(value) == current)
            act.triggered.connect(self.apply_detector_config)
            group.addAction(act)
        return group

    # configuration -------------------------------------------------------------------------------------
    def detector_config(self) -> DetectorConfig:
        size = self.size_group.checkedAction()
        device = self.device_group.checkedAction()
        return DetectorConfig(size=int(size.data()) if size else 512, score_threshold=0.05,
                              device=str(device.data()) if device else "auto", fast=self.act_fast.isChecked(),
                              int8=self.act_int8.isChecked())

    def apply_detector_config(self) -> None:
        for key, group in (("model/size", self.size_group), ("model/device", self.device_group)):
            if group.checkedAction() is not None:
                self.settings.setValue(key, group.checkedAction().data())
        self.settings.setValue("model/fast", self.act_fast.isChecked())
        self.settings.setValue("model/int8", self.act_int8.isChecked())
        if self.detector is not None:
            config = self.detector_config()
            self.detector.update_config(size=config.size, device=config.device, fast=config.fast, int8=config.int8)
            self.update_status()

    def version_id(self) -> int | None:
        """The project model version that runs, if one was chosen: stored with its predictions."""
        version = self.settings.value("model/version")
        return int(version) if version not in (None, "") else None

    # loading -------------------------------------------------------------------------------------------
    def load_model(self) -> None:
        """Load the chosen model off the UI thread; a failure shows a banner and the app carries on."""
        self.requested = True
        project = self.projects.project
        spec = model_loading.ModelChoice.from_settings(self.settings, project)
        for act in self.preset_group.actions():
            act.setChecked(act.data() == spec.preset)
        self.status_model.setText(f"model: loading {spec.label}…")
        worker = CallWorker(partial(model_loading.build_detector, spec, self.detector_config(), project))
        worker.returned.connect(self._on_model_loaded)
        worker.errored.connect(self._on_model_failed)
        self.tasks.start(worker)

    def _on_model_loaded(self, detector: Detector) -> None:
        self.messages.clear()
        self.set_detector(detector)

    def set_detector(self, detector: Detector) -> None:
        """Switch the running model (a live source restarts with it)."""
        self.requested = True
        self.detector = detector
        self.update_status()
        self.detector_changed.emit(detector)

    def _on_model_failed(self, exc: Exception) -> None:
        self.detector = None
        self.status_model.setText("model: none")
        self.messages.show_error(f"{failure_message('loading the model failed', exc)}\nYou can still review and "
                                 "draw labels. Choose Model › Load weights file…, a project model version, or "
                                 "Model › Use untrained weights to try the app.")

    def update_status(self) -> None:
        d = self.detector
        if d is None:
            return
        self.status_model.setText(f"model: {d.name}")
        self.status_device.setText(f"{d.device.type.upper()} · {getattr(d, 'int8_status', None) or d.precision}")

    # choosing a model ----------------------------------------------------------------------------------
    def _choose_model(self, key: str | None = None, value: object = None) -> None:
        """Remember one model source (preset, file, version or plugin), forget the others, load it."""
        for other in ("model/file", "model/version", "model/plugin"):
            self.settings.remove(other)
        if key is not None:
            self.settings.setValue(key, value)
        self.load_model()

    def choose_preset(self, name: str) -> None:
        self.settings.setValue("model/preset", name)
        self._choose_model()

    def choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Load weights", "",
                                              "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self._choose_model("model/file", path)

    def use_untrained(self, on: bool) -> None:
        self.settings.setValue("model/weights", "none" if on else "default")
        self.load_model()

    def fill_versions_menu(self, menu: QMenu) -> None:
        menu.clear()
        project = self.projects.project
        versions = project.repo.model_versions() if project else []
        if not versions:
            menu.addAction("No versions yet: train one with Model › Train").setEnabled(False)
        for version in versions:
            act = menu.addAction(f"{version.name}{'  (active)' if version.is_active else ''}")
            act.triggered.connect(partial(self.activate_version, version.id))

    def activate_version(self, version_id: int) -> None:
        # Imported here: the training package imports torch, needed only now that a version's model is loaded.
        from detector_app.training.versions import activate_version

        try:
            activate_version(self.projects.project, version_id)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return
        self._choose_model("model/version", int(version_id))

    def fill_plugin_models_menu(self, menu: QMenu) -> None:
        menu.clear()
        detectors = get_manager().detectors()
        if not detectors:
            menu.addAction("No detector plugins (see Tools › Plugins)").setEnabled(False)
        for name in sorted(detectors):
            menu.addAction(name).triggered.connect(partial(self._choose_model, "model/plugin", name))

    def open_train_dialog(self) -> None:
        # Imported when first opened: the training dialog pulls in the training package and pyqtgraph.
        from detector_app.ui.train_dialog import TrainDialog

        dialog = TrainDialog(self.projects.project.path, self.detector.name if self.detector else None,
                             parent=self.window)
        dialog.version_activated.connect(self.activate_version)
        dialog.show()
        self.train_dialog = dialog
