"""Zoomable, pannable image canvas that shows boxes and lets a person draw and edit them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView

from detector_app.ui.box_item import MIN_SIZE, BoxItem, BoxSpec
from detector_app.ui.imaging import bgr_to_pixmap

BBox = tuple[float, float, float, float]


class AnnotationCanvas(QGraphicsView):
    """Shows one image and its boxes (scene coordinates = image pixels).

    Signals carry annotation ids and COCO ``(x, y, w, h)`` boxes already clamped to the image.
    """

    box_edited = Signal(int, tuple, tuple)  # key, old bbox, new bbox
    box_drawn = Signal(tuple)  # bbox
    selection_changed = Signal(object)  # key or None
    draw_mode_changed = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        # No BSP index: a box's bounds follow the zoom (its handles and tag keep their screen size), so they change
        # without the item knowing; the index then kept boxes removed since, and a later paint crashed on them (a
        # segfault when zooming and stepping video frames). A frame holds tens of boxes: a linear search is free.
        self.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setObjectName("canvas")  # background: QGraphicsView#canvas in resources/styles/*.qss
        self._pixmap_item = QGraphicsPixmapItem()
        self._pixmap_item.setZValue(-1)
        self.scene().addItem(self._pixmap_item)
        self._items: dict[int | None, list[BoxItem]] = {}
        self._editable = False
        self._draw_mode = False
        self._draw_origin: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        self._pan_origin: QPointF | None = None
        self._press_at: QPointF | None = None  # where the left button went down (viewport pixels)
        self._last_click: QPointF | None = None  # where the last plain click was (viewport pixels)
        self._cycle_pending = False  # a repeat click: its release selects the next stacked box
        self._image_size: tuple[int, int] = (0, 0)
        self.scene().selectionChanged.connect(self._emit_selection)

    # image and boxes ------------------------------------------------------------------------------------
    @property
    def image_rect(self) -> QRectF:
        return QRectF(0, 0, self._image_size[0], self._image_size[1])

    def set_image(self, image: np.ndarray | QPixmap, fit: bool = False) -> None:
        pixmap = image if isinstance(image, QPixmap) else bgr_to_pixmap(image)
        size = (pixmap.width(), pixmap.height())
        self._pixmap_item.setPixmap(pixmap)
        if size != self._image_size or fit:
            self._image_size = size
            self.scene().setSceneRect(self.image_rect)
            self.fit()

    def clear_image(self) -> None:
        self._pixmap_item.setPixmap(QPixmap())
        self._image_size = (0, 0)
        self.set_boxes([], editable=False)

    def set_boxes(self, specs: Sequence[BoxSpec], editable: bool) -> None:
        """Replace every box; keeps the selection when the same annotation is still shown.

        Removing an item repaints its ``boundingRect``, which covers its tag (see BoxItem.boundingRect)."""
        selected = self.selected_key()
        self.scene().blockSignals(True)
        for items in self._items.values():
            for item in items:
                self.scene().removeItem(item)
        self._items = {}
        self._editable = editable
        for spec in specs:
            item = BoxItem(spec, self.image_rect, editable, self._on_item_edited if editable else None)
            self.scene().addItem(item)
            self._items.setdefault(spec.key, []).append(item)
            if editable and spec.key is not None and spec.key == selected:
                item.setSelected(True)
        self.scene().blockSignals(False)
        if selected is not None and self.selected_key() != selected:
            self.selection_changed.emit(None)

    def box_items(self) -> list[BoxItem]:
        return [item for items in self._items.values() for item in items]

    def item_for(self, key: int) -> BoxItem | None:
        items = self._items.get(key)
        return items[0] if items else None

    def selected_key(self) -> int | None:
        for item in self.scene().selectedItems():
            if isinstance(item, BoxItem):
                return item.spec.key
        return None

    def select(self, key: int | None) -> None:
        self.scene().clearSelection()
        item = self.item_for(key) if key is not None else None
        if item is not None:
            item.setSelected(True)
            self.ensureVisible(item.sceneBoundingRectOfBox(), 40, 40)

    def _emit_selection(self) -> None:
        self.selection_changed.emit(self.selected_key())

    def _on_item_edited(self, item: BoxItem, before: BBox) -> None:
        if item.spec.key is not None:
            self.box_edited.emit(item.spec.key, tuple(before), tuple(item.bbox()))

    # view -----------------------------------------------------------------------------------------------
    def fit(self) -> None:
        if self._image_size != (0, 0):
            self.fitInView(self.image_rect, Qt.AspectRatioMode.KeepAspectRatio)
            self._scale_changed()

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = min(max(factor, 0.05 / current), 40.0 / current)
        self.scale(factor, factor)
        self._scale_changed()

    def _scale_changed(self) -> None:
        """Handles and tags keep their screen size, so every item's scene bounds change with the zoom."""
        for item in self.box_items():
            item.view_scale_changed()

    # overlapping boxes ----------------------------------------------------------------------------------
    def cycle_selection(self, step: int = 1, at: QPointF | None = None) -> int | None:
        """Select the next (``step`` 1) or previous (-1) box among those under ``at`` (scene point) or, without
        one, overlapping the selected box; smallest first, so a box inside a bigger one is reachable."""
        selected = self.item_for(self.selected_key()) if self.selected_key() is not None else None
        items = self.box_items()
        if at is not None:
            stack = [i for i in items if i.sceneBoundingRectOfBox().contains(at)]
        elif selected is not None:
            area = selected.sceneBoundingRectOfBox()
            stack = [i for i in items if i.sceneBoundingRectOfBox().intersects(area)]
        else:
            stack = items
        stack = [i for i in stack if i.spec.key is not None]
        if not stack:
            return None
        stack.sort(key=lambda i: (i.rect().width() * i.rect().height(), i.spec.key))
        index = stack.index(selected) + step if selected in stack else (0 if step > 0 else -1)
        key = stack[index % len(stack)].spec.key
        self.select(key)
        return key

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(1.25 ** steps)
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._editable:
            self.fit()

    # drawing a new box / panning ------------------------------------------------------------------------
    def set_draw_mode(self, on: bool) -> None:
        changed = (on and self._editable) != self._draw_mode
        self._draw_mode = on and self._editable
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if self._draw_mode else Qt.CursorShape.ArrowCursor)
        if changed:
            self.draw_mode_changed.emit(self._draw_mode)

    @property
    def draw_mode(self) -> bool:
        return self._draw_mode

    def _clamp(self, p: QPointF) -> QPointF:
        r = self.image_rect
        return QPointF(min(max(p.x(), r.left()), r.right()), min(max(p.y(), r.top()), r.bottom()))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_origin = event.position()
            return
        if self._draw_mode and event.button() == Qt.MouseButton.LeftButton and self._image_size != (0, 0):
            self._draw_origin = self._clamp(self.mapToScene(event.position().toPoint()))
            pen = QPen(QColor(255, 255, 0), 1.5, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._rubber = self.scene().addRect(QRectF(self._draw_origin, self._draw_origin), pen)
            return
        self._press_at = event.position() if event.button() == Qt.MouseButton.LeftButton else None
        if self._press_at is not None and self._is_repeat_click(self._press_at):
            self._cycle_pending = True  # the boxes' own press would select the topmost one again
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_origin is not None:
            delta = event.position() - self._pan_origin
            self._pan_origin = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            return
        if self._cycle_pending:
            return
        if self._rubber is not None and self._draw_origin is not None:
            p = self._clamp(self.mapToScene(event.position().toPoint()))
            self._rubber.setRect(QRectF(self._draw_origin, p).normalized())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_origin is not None and event.button() == Qt.MouseButton.MiddleButton:
            self._pan_origin = None
            return
        if self._rubber is not None:
            rect = self._rubber.rect()
            self.scene().removeItem(self._rubber)
            self._rubber, self._draw_origin = None, None
            if rect.width() >= MIN_SIZE and rect.height() >= MIN_SIZE:
                self.box_drawn.emit((rect.x(), rect.y(), rect.width(), rect.height()))
            return
        if not self._cycle_pending:
            super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._press_at is not None:
            self._after_click(event.position())

    def _is_repeat_click(self, at: QPointF) -> bool:
        """A press where the last plain click was, over more than one box."""
        if self._last_click is None or (at - self._last_click).manhattanLength() > 3:
            return False
        point = self.mapToScene(at.toPoint())
        return sum(1 for i in self.box_items() if i.sceneBoundingRectOfBox().contains(point)) > 1

    def _after_click(self, at: QPointF) -> None:
        """A second plain click at the same spot selects the next of the boxes stacked there."""
        press, self._press_at = self._press_at, None
        cycle, self._cycle_pending = self._cycle_pending, False
        if (at - press).manhattanLength() > 3:  # a drag, not a click
            self._last_click = None
            return
        if cycle:
            self.cycle_selection(1, self.mapToScene(at.toPoint()))
        self._last_click = at
