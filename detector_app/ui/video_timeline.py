"""The timeline under a video task's frame: the current frame, and one lane per track showing where it lives.

A lane paints the track's span (frames it has a box on) as a pale bar in its class colour: those frames show
interpolated (or held) boxes; a person's keyframes are solid diamonds on it, a tracker's proposals hollow ticks.
A click or drag anywhere seeks (``seek``); the lanes scroll with the wheel when there are more than fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from detector_app.storage.video_records import TrackLine

RULER_PX = 18  # the frame ruler on top
LANE_PX = 16
MAX_LANES = 6  # lanes shown at once (more scroll)
LEFT_PX = 64  # the lane titles ("#12 car")
EMPTY_TEXT = ("No tracks yet: press D and drag around an object to start one, or Propagate (Ctrl+P) to let the "
              "model propose tracks.")


class VideoTimeline(QWidget):
    """Frames ``0 .. frame_count - 1`` left to right; ``set_lines`` and ``set_frame`` redraw it."""

    seek = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("videoTimeline")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(False)
        self.frame_count = 0
        self.frame = 0
        self.lines: list[TrackLine] = []
        self.selected_track: int | None = None
        self.color_of: Callable[[str], tuple[int, int, int]] = lambda _name: (200, 200, 200)
        self.first_lane = 0  # scrolled by the wheel
        self._update_height()

    # data -----------------------------------------------------------------------------------------------
    def set_video(self, frame_count: int) -> None:
        self.frame_count, self.frame, self.first_lane = frame_count, 0, 0
        self.update()

    def set_lines(self, lines: Sequence[TrackLine]) -> None:
        self.lines = list(lines)
        self.first_lane = min(self.first_lane, max(0, len(self.lines) - MAX_LANES))
        self._update_height()
        self.update()

    def set_frame(self, frame: int, selected_track: int | None = None) -> None:
        self.frame, self.selected_track = frame, selected_track
        index = next((i for i, line in enumerate(self.lines) if line.track.id == selected_track), None)
        if index is not None and not self.first_lane <= index < self.first_lane + MAX_LANES:
            self.first_lane = min(index, max(0, len(self.lines) - MAX_LANES))  # the selected track's lane shows
        self.update()

    def _update_height(self) -> None:
        lanes = min(max(len(self.lines), 2), MAX_LANES)  # without tracks: room for the two-line hint
        self.setFixedHeight(RULER_PX + lanes * LANE_PX + 6)

    # geometry -------------------------------------------------------------------------------------------
    def _track_rect(self) -> QRectF:
        return QRectF(LEFT_PX, 0, max(1.0, self.width() - LEFT_PX - 8), self.height())

    def x_of(self, frame: float) -> float:
        """Left edge of ``frame`` in widget pixels."""
        r = self._track_rect()
        return r.left() + r.width() * frame / max(self.frame_count, 1)

    def frame_at(self, x: float) -> int:
        r = self._track_rect()
        frame = int((x - r.left()) / r.width() * max(self.frame_count, 1))
        return min(max(frame, 0), max(self.frame_count - 1, 0))

    # mouse ----------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.frame_count:
            self.seek.emit(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton and self.frame_count:
            frame = self.frame_at(event.position().x())
            if frame != self.frame:
                self.seek.emit(frame)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if len(self.lines) > MAX_LANES:
            step = -1 if event.angleDelta().y() > 0 else 1
            self.first_lane = min(max(self.first_lane + step, 0), len(self.lines) - MAX_LANES)
            self.update()
        event.accept()

    # painting -------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        text = pal.color(QPalette.ColorRole.Text)
        if self.frame_count:
            self._paint_cursor(painter, band=True)  # behind the lanes: a keyframe here stays visible
            self._paint_ruler(painter, text)
            if self.lines:
                for lane, line in enumerate(self.lines[self.first_lane:self.first_lane + MAX_LANES]):
                    self._paint_lane(painter, RULER_PX + lane * LANE_PX, line, text)
            else:
                painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(QRectF(LEFT_PX, RULER_PX, self.width() - LEFT_PX - 8, self.height() - RULER_PX),
                                 Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
                                 | Qt.TextFlag.TextWordWrap, EMPTY_TEXT)
            self._paint_cursor(painter, band=False)
        painter.end()

    def _paint_ruler(self, painter: QPainter, text: QColor) -> None:
        painter.setPen(text)
        painter.drawText(QRectF(4, 0, LEFT_PX - 6, RULER_PX), Qt.AlignmentFlag.AlignVCenter,
                         f"{self.frame + 1} / {self.frame_count}")
        r = self._track_rect()
        step = _tick_step(self.frame_count, r.width())
        muted = QColor(text)
        muted.setAlpha(120)
        for frame in range(0, self.frame_count, step):
            x = self.x_of(frame)
            painter.setPen(muted)
            painter.drawLine(QPointF(x, RULER_PX - 5), QPointF(x, RULER_PX - 1))
            if x + 40 < r.right():
                painter.drawText(QPointF(x + 2, RULER_PX - 6), str(frame + 1))
        painter.drawLine(QPointF(r.left(), RULER_PX - 1), QPointF(r.right(), RULER_PX - 1))

    def _paint_lane(self, painter: QPainter, top: float, line: TrackLine, text: QColor) -> None:
        color = QColor(*self.color_of(line.track.category_name))
        mid = top + LANE_PX / 2
        title = f"#{line.track.id} {line.track.category_name}"
        painter.setPen(color if line.track.id != self.selected_track else text)
        font = painter.font()
        font.setBold(line.track.id == self.selected_track)
        painter.setFont(font)
        painter.drawText(QRectF(4, top, LEFT_PX - 6, LANE_PX), Qt.AlignmentFlag.AlignVCenter,
                         painter.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, LEFT_PX - 6))
        font.setBold(False)
        painter.setFont(font)
        if line.span is not None:  # where it lives: interpolated (pale) between its stored boxes
            pale = QColor(color)
            pale.setAlpha(90 if line.track.id != self.selected_track else 140)
            x0, x1 = self.x_of(line.span[0]), self.x_of(line.span[1])
            painter.fillRect(QRectF(x0, mid - 3, max(x1 - x0, 1.5), 6), pale)
            end = line.track.ended_at_frame
            if end is not None and end < self.frame_count:  # the track ends here: a bar across the lane
                painter.setPen(QPen(color, 2))
                painter.drawLine(QPointF(x1, top + 2), QPointF(x1, top + LANE_PX - 2))
        painter.setPen(QPen(color, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for frame in line.proposals:  # a tracker's proposals: hollow ticks
            x = self.x_of(frame + 0.5)
            painter.drawRect(QRectF(x - 2, mid - 4, 4, 8))
        painter.setBrush(color)
        painter.setPen(QPen(text.darker(150) if color.lightnessF() > 0.6 else color.lighter(160), 1))
        for frame in line.keyframes:  # a person's keyframes: solid diamonds
            x = self.x_of(frame + 0.5)
            painter.drawPolygon(QPolygonF([QPointF(x, mid - 5), QPointF(x + 5, mid), QPointF(x, mid + 5),
                                           QPointF(x - 5, mid)]))

    def _paint_cursor(self, painter: QPainter, band: bool) -> None:
        """The current frame: a band as wide as the frame behind everything, and a thin line on top."""
        x0, x1 = self.x_of(self.frame), self.x_of(self.frame + 1)
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        if band:
            shade = QColor(highlight)
            shade.setAlpha(70)
            painter.fillRect(QRectF(x0, 0, max(x1 - x0, 2.0), self.height()), shade)
        else:
            painter.setPen(QPen(highlight, 1))
            mid = (x0 + x1) / 2
            painter.drawLine(QPointF(mid, 0), QPointF(mid, RULER_PX))

def _tick_step(frame_count: int, width: float) -> int:
    """Frames between ruler labels: a round number that leaves about 60 px between them."""
    wanted = frame_count * 60 / max(width, 1.0)
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 25_000, 50_000):
        if step >= wanted:
            return step
    return 100_000
