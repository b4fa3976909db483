"""The live training plot: loss per step and per epoch (left axis), validation mAP per epoch (right axis).

Drawn with pyqtgraph; the mAP curve lives in a second view box linked to the same x axis, as pyqtgraph's
"multiple axes" example does it.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

LOSS_COLOUR = "#e07b39"
STEP_COLOUR = (224, 123, 57, 90)
MAP_COLOUR = "#3a86c8"


class TrainPlot(QWidget):
    """x: epochs (fractional for steps); left axis: loss (auto-scaled); right axis: val mAP in [0, 1]."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.step_losses: list[tuple[float, float]] = []
        self.epoch_losses: list[tuple[float, float]] = []
        self.val_map: list[tuple[float, float]] = []
        self.epochs = 1

        self.widget = pg.PlotWidget(background=None)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)
        item = self.widget.getPlotItem()
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        item.showGrid(x=False, y=True, alpha=0.2)
        item.setLabel("bottom", "epoch")
        item.setLabel("left", "loss", color=LOSS_COLOUR)
        item.addLegend(offset=(8, 4))
        self._steps = item.plot(pen=pg.mkPen(STEP_COLOUR, width=1))
        self._epochs = item.plot(pen=pg.mkPen(LOSS_COLOUR, width=2), symbol="o", symbolSize=6,
                                 symbolBrush=LOSS_COLOUR, symbolPen=None, name="loss")
        self._map_box = pg.ViewBox()
        item.showAxis("right")
        item.scene().addItem(self._map_box)
        item.getAxis("right").linkToView(self._map_box)
        item.getAxis("right").setLabel("val mAP", color=MAP_COLOUR)
        self._map_box.setXLink(item)
        self._map_box.setYRange(0.0, 1.0, padding=0.02)
        self._map_box.setMouseEnabled(x=False, y=False)
        self._map = pg.PlotDataItem(pen=pg.mkPen(MAP_COLOUR, width=2), symbol="o", symbolSize=6,
                                    symbolBrush=MAP_COLOUR, symbolPen=None, name="val mAP")
        self._map_box.addItem(self._map)
        item.legend.addItem(self._map, "val mAP")
        item.vb.sigResized.connect(self._sync_views)
        self._set_x_range()

    def _sync_views(self) -> None:
        self._map_box.setGeometry(self.widget.getPlotItem().vb.sceneBoundingRect())

    def _set_x_range(self) -> None:
        self.widget.getPlotItem().setXRange(0, self.epochs, padding=0.02)

    def clear(self, epochs: int = 1) -> None:
        self.step_losses.clear()
        self.epoch_losses.clear()
        self.val_map.clear()
        self.epochs = max(1, epochs)
        for curve in (self._steps, self._epochs, self._map):
            curve.setData([], [])
        self._set_x_range()

    def add_step(self, x: float, loss: float) -> None:
        self.step_losses.append((x, loss))
        self._steps.setData(*zip(*self.step_losses, strict=True))

    def add_epoch(self, epoch: int, loss: float, val_map: float | None) -> None:
        self.epoch_losses.append((float(epoch), loss))
        self._epochs.setData(*zip(*self.epoch_losses, strict=True))
        if val_map is not None:
            self.val_map.append((float(epoch), val_map))
            self._map.setData(*zip(*self.val_map, strict=True))

    @property
    def has_data(self) -> bool:
        return bool(self.step_losses or self.epoch_losses)
