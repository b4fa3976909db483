"""A box on the canvas: selectable, movable, resizable by its handles, clamped to the image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
)

from detector_app.core.labels import Status
from detector_app.core.tracks import BoxKind

HANDLE_PX = 8.0  # handle size on screen, whatever the zoom
MIN_SIZE = 2.0  # smallest box side in image pixels


@dataclass(frozen=True)
class BoxSpec:
    """What the canvas draws for one box. ``key`` is the annotation id (None for live overlays)."""

    key: int | None
    bbox: tuple[float, float, float, float]  # x, y, w, h in image pixels
    label: str
    score: float | None
    status: str  # predicted | accepted | corrected | rejected | live | interpolated (a video frame's)
    color: tuple[int, int, int]
    locked: bool = False  # view state: a locked box is selectable but cannot be moved or resized
    track_id: int | None = None  # live overlays that follow tracks: shown first in the tag, "#12 person 0.87"

    @property
    def tag(self) -> str:
        text = self.label if self.score is None else f"{self.label} {self.score:.2f}"
        return text if self.track_id is None else f"#{self.track_id} {text}"


class Handle(Enum):
    TOP_LEFT = (0, 0)
    TOP = (0.5, 0)
    TOP_RIGHT = (1, 0)
    RIGHT = (1, 0.5)
    BOTTOM_RIGHT = (1, 1)
    BOTTOM = (0.5, 1)
    BOTTOM_LEFT = (0, 1)
    LEFT = (0, 0.5)

    def cursor(self) -> Qt.CursorShape:
        if self in (Handle.TOP, Handle.BOTTOM):
            return Qt.CursorShape.SizeVerCursor
        if self in (Handle.LEFT, Handle.RIGHT):
            return Qt.CursorShape.SizeHorCursor
        if self in (Handle.TOP_LEFT, Handle.BOTTOM_RIGHT):
            return Qt.CursorShape.SizeFDiagCursor
        return Qt.CursorShape.SizeBDiagCursor


class BoxItem(QGraphicsRectItem):
    """Geometry lives in ``rect()`` in scene (image pixel) coordinates; ``pos()`` is the drag offset.

    ``on_edited(item, old_bbox)`` is called once per finished move or resize.
    """

    def __init__(self, spec: BoxSpec, bounds: QRectF, editable: bool,
                 on_edited: Callable[[BoxItem, tuple[float, float, float, float]], None] | None = None) -> None:
        x, y, w, h = spec.bbox
        super().__init__(QRectF(x, y, w, h))
        self.spec = spec
        self.bounds = bounds
        self.on_edited = on_edited
        self._handle: Handle | None = None
        self._press_bbox: tuple[float, float, float, float] | None = None
        self._tag_size: tuple[float, QFont, float, float] | None = None  # scale, font, width, height
        self.setZValue(1)
        self.setAcceptHoverEvents(editable)
        if editable:
            movable = QGraphicsItem.GraphicsItemFlag(0) if spec.locked else QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | movable
                          | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)

    # geometry -------------------------------------------------------------------------------------------
    def bbox(self) -> tuple[float, float, float, float]:
        r = self.sceneBoundingRectOfBox()
        return (r.x(), r.y(), r.width(), r.height())

    def sceneBoundingRectOfBox(self) -> QRectF:
        return self.rect().translated(self.pos())

    def set_bbox(self, bbox: tuple[float, float, float, float]) -> None:
        self.prepareGeometryChange()
        self.setPos(0, 0)
        self.setRect(QRectF(*bbox))

    def _handle_size(self) -> float:
        views = self.scene().views() if self.scene() else []
        scale = views[0].transform().m11() if views else 1.0
        return HANDLE_PX / max(scale, 1e-6)

    def _handle_rect(self, handle: Handle) -> QRectF:
        r, s = self.rect(), self._handle_size()
        fx, fy = handle.value
        center = QPointF(r.left() + fx * r.width(), r.top() + fy * r.height())
        return QRectF(center.x() - s / 2, center.y() - s / 2, s, s)

    def handle_at(self, pos: QPointF) -> Handle | None:
        if not self.isSelected() or self.spec.locked:
            return None
        return next((h for h in Handle if self._handle_rect(h).contains(pos)), None)

    def boundingRect(self) -> QRectF:
        """Everything ``paint`` touches: the box, its handles and the tag (which may be wider than the box and,
        zoomed out, taller than any fixed margin). Painting outside it left stale tag fragments (issue 12 #6)."""
        pad = self._handle_size()
        return self.rect().adjusted(-pad, -pad, pad, pad).united(self._tag_geometry()[0].adjusted(-1, -1, 1, 1))

    def view_scale_changed(self) -> None:
        """The view zoomed: handle and tag sizes (in scene units) change with it."""
        self.prepareGeometryChange()

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        pad = self._handle_size() / 2
        path.addRect(self.rect().adjusted(-pad, -pad, pad, pad))
        return path

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange:
            return self._clamped_offset(value)
        return super().itemChange(change, value)

    def _clamped_offset(self, offset: QPointF) -> QPointF:
        r, b = self.rect(), self.bounds
        dx = min(max(offset.x(), b.left() - r.left()), b.right() - r.right())
        dy = min(max(offset.y(), b.top() - r.top()), b.bottom() - r.bottom())
        return QPointF(dx, dy)

    # mouse ----------------------------------------------------------------------------------------------
    def hoverMoveEvent(self, event) -> None:
        handle = self.handle_at(event.pos())
        self.setCursor(handle.cursor() if handle else Qt.CursorShape.SizeAllCursor)
        super().hoverMoveEvent(event)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self._press_bbox = self.bbox()
        self._handle = self.handle_at(event.pos()) if event.button() == Qt.MouseButton.LeftButton else None
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._handle is None:
            super().mouseMoveEvent(event)
            return
        self._resize_to(event.pos())

    def _resize_to(self, pos: QPointF) -> None:
        fx, fy = self._handle.value
        r = QRectF(self.rect())
        b = self.bounds.translated(-self.pos())
        x = min(max(pos.x(), b.left()), b.right())
        y = min(max(pos.y(), b.top()), b.bottom())
        if fx == 0:
            r.setLeft(min(x, r.right() - MIN_SIZE))
        elif fx == 1:
            r.setRight(max(x, r.left() + MIN_SIZE))
        if fy == 0:
            r.setTop(min(y, r.bottom() - MIN_SIZE))
        elif fy == 1:
            r.setBottom(max(y, r.top() + MIN_SIZE))
        self.prepareGeometryChange()
        self.setRect(r)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        self._handle = None
        before, self._press_bbox = self._press_bbox, None
        after = self.bbox()
        if before is not None and self.on_edited and any(abs(a - b) > 1e-3 for a, b in zip(after, before, strict=True)):
            self.set_bbox(after)  # fold the drag offset into the rect
            self.on_edited(self, before)

    # drawing --------------------------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        color = QColor(*self.spec.color)
        pen = QPen(color, 2.5 if self.isSelected() else 2.0)
        pen.setCosmetic(True)
        if self.spec.status == Status.PREDICTED:
            pen.setStyle(Qt.PenStyle.DashLine)
        elif self.spec.status == BoxKind.INTERPOLATED:  # a video frame between keyframes (ui/video_boxes.py)
            pen.setStyle(Qt.PenStyle.DotLine)
        painter.setPen(pen)
        fill = QColor(color)
        fill.setAlpha(40 if self.isSelected() else 0)
        painter.setBrush(QBrush(fill))
        painter.drawRect(self.rect())
        self._paint_tag(painter, color)
        if self.isSelected():
            painter.setBrush(QBrush(QColor(255, 255, 255)))
            for handle in Handle:
                painter.drawRect(self._handle_rect(handle))

    def _tag_geometry(self) -> tuple[QRectF, QFont, float]:
        """The tag's rect in item coordinates, its font and the scale it is painted at (scene units per pixel,
        or 1 when zoomed out: then the font itself is scaled)."""
        scale = self._handle_size() / HANDLE_PX  # scene units per screen pixel
        if self._tag_size is None or self._tag_size[0] != scale:  # boundingRect is asked often: measure once
            font = QFont()
            font.setPixelSize(max(1, int(round(13 * scale))) if scale >= 1 else 13)
            metrics = QFontMetricsF(font)
            self._tag_size = (scale, font, metrics.horizontalAdvance(self.tag_text) + 8, metrics.height() + 2)
        _, font, width, height = self._tag_size
        painted = scale if scale < 1 else 1.0  # zoomed in: drawn at screen size, scaled down into the scene
        top_left = self.rect().topLeft()
        return QRectF(top_left.x(), top_left.y() - height * painted, width * painted, height * painted), font, painted

    @property
    def tag_text(self) -> str:
        return ("\N{LOCK} " if self.spec.locked else "") + self.spec.tag

    def _paint_tag(self, painter: QPainter, color: QColor) -> None:
        rect, font, painted = self._tag_geometry()
        painter.save()
        painter.translate(rect.topLeft())
        painter.scale(painted, painted)
        box = QRectF(0, 0, rect.width() / painted, rect.height() / painted)
        painter.setFont(font)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawRect(box)
        painter.setPen(QPen(QColor(0, 0, 0) if color.lightnessF() > 0.55 else QColor(255, 255, 255)))
        painter.drawText(box.adjusted(4, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         self.tag_text)
        painter.restore()
