"""A small live plot of training loss (per step, and mean per epoch) and validation mAP per epoch.

Drawn with QPainter: QtCharts is not part of PySide6-Essentials.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

LOSS_COLOUR = QColor("#e07b39")
STEP_COLOUR = QColor(224, 123, 57, 70)
MAP_COLOUR = QColor("#3a86c8")
_MARGIN_L, _MARGIN_R, _MARGIN_T, _MARGIN_B = 46, 46, 22, 26


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

    def clear(self, epochs: int = 1) -> None:
        self.step_losses.clear()
        self.epoch_losses.clear()
        self.val_map.clear()
        self.epochs = max(1, epochs)
        self.update()

    def add_step(self, x: float, loss: float) -> None:
        self.step_losses.append((x, loss))
        self.update()

    def add_epoch(self, epoch: int, loss: float, val_map: float | None) -> None:
        self.epoch_losses.append((float(epoch), loss))
        if val_map is not None:
            self.val_map.append((float(epoch), val_map))
        self.update()

    @property
    def has_data(self) -> bool:
        return bool(self.step_losses or self.epoch_losses)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        area = QRectF(_MARGIN_L, _MARGIN_T, max(10, self.width() - _MARGIN_L - _MARGIN_R),
                      max(10, self.height() - _MARGIN_T - _MARGIN_B))
        top_loss = max([y for _, y in self.step_losses + self.epoch_losses] + [1e-3]) * 1.05
        self._draw_axes(painter, area, top_loss)
        self._draw_series(painter, area, self.step_losses, top_loss, QPen(STEP_COLOUR, 1))
        self._draw_series(painter, area, self.epoch_losses, top_loss, QPen(LOSS_COLOUR, 2), dots=True)
        self._draw_series(painter, area, self.val_map, 1.0, QPen(MAP_COLOUR, 2), dots=True)
        self._draw_legend(painter, area)
        painter.end()

    def _point(self, area: QRectF, x: float, y: float, top: float) -> QPointF:
        return QPointF(area.left() + area.width() * x / self.epochs,
                       area.bottom() - area.height() * min(max(y / top, 0.0), 1.0))

    def _draw_series(self, painter: QPainter, area: QRectF, points: list[tuple[float, float]], top: float,
                     pen: QPen, dots: bool = False) -> None:
        if not points:
            return
        path = QPainterPath(self._point(area, *points[0], top))
        for x, y in points[1:]:
            path.lineTo(self._point(area, x, y, top))
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        if dots:
            painter.setBrush(pen.color())
            for x, y in points:
                painter.drawEllipse(self._point(area, x, y, top), 3, 3)

    def _draw_axes(self, painter: QPainter, area: QRectF, top_loss: float) -> None:
        text = self.palette().text().color()
        grid = QColor(text)
        grid.setAlpha(40)
        painter.setPen(QPen(grid, 1))
        for i in range(5):
            y = area.top() + area.height() * i / 4
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        painter.setPen(QPen(text, 1))
        painter.drawRect(area)
        for i in range(5):
            y = area.top() + area.height() * i / 4
            painter.setPen(LOSS_COLOUR)
            painter.drawText(QRectF(0, y - 8, _MARGIN_L - 4, 16), Qt.AlignmentFlag.AlignRight,
                             f"{top_loss * (4 - i) / 4:.2f}")
            painter.setPen(MAP_COLOUR)
            painter.drawText(QRectF(area.right() + 4, y - 8, _MARGIN_R - 4, 16), Qt.AlignmentFlag.AlignLeft,
                             f"{(4 - i) / 4:.2f}")
        painter.setPen(text)
        step = max(1, self.epochs // 10)
        for e in range(0, self.epochs + 1, step):
            x = area.left() + area.width() * e / self.epochs
            painter.drawText(QRectF(x - 15, area.bottom() + 4, 30, 16), Qt.AlignmentFlag.AlignHCenter, str(e))

    def _draw_legend(self, painter: QPainter, area: QRectF) -> None:
        x = area.left() + 6
        for label, colour in (("loss", LOSS_COLOUR), ("val mAP", MAP_COLOUR)):
            painter.setPen(QPen(colour, 2))
            painter.drawLine(QPointF(x, area.top() - 10), QPointF(x + 16, area.top() - 10))
            painter.setPen(self.palette().text().color())
            painter.drawText(QPointF(x + 20, area.top() - 6), label)
            x += 90
