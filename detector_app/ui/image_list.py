"""A lazy list of the project's images: ids are fetched at once, rows and thumbnails on demand.

With 10,000+ images only the rows Qt asks for are read from SQLite (pages of ``PAGE`` records) and
only the thumbnails of visible rows are decoded, on a thread pool, then cached in memory and on disk.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap

from detector_app.errors import SourceError
from detector_app.sources.video_frames import check_video_file
from detector_app.storage.records import ImageRecord

log = logging.getLogger(__name__)

PAGE = 200
THUMB = 64
REVIEWED_MARK = "\N{CHECK MARK}"
EMPTY_MARK = "empty"


def make_thumbnail(path: Path, cache_dir: Path | None, key: str,
                   video: tuple[str, int] | None = None) -> np.ndarray | None:
    """Decode at reduced size (JPEG scaling in the decoder) and shrink to fit THUMB px; cached as JPEG. A frame
    of a video task has no file of its own (``video``: the video and the frame index): it is decoded from it."""
    cached = cache_dir / f"{key}.jpg" if cache_dir else None
    if cached is not None and cached.is_file():
        image = cv2.imread(str(cached), cv2.IMREAD_COLOR)
        if image is not None:
            return image
    if video is not None and not path.is_file():
        image = _video_frame(*video)
    else:
        image = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_4)
    if image is None:
        return None
    scale = THUMB / max(image.shape[:2])
    if scale < 1:
        size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(cached), image)
    return image


def _video_frame(video_path: str, index: int) -> np.ndarray | None:
    """One frame by a seek: for a thumbnail a codec's nearest keyframe would do (the canvas decodes exactly)."""
    try:
        check_video_file(Path(video_path))  # a FIFO would block this worker in the decoder for good
    except SourceError:
        return None
    cap = cv2.VideoCapture(video_path)
    try:
        if not cap.isOpened() or not cap.set(cv2.CAP_PROP_POS_FRAMES, index):
            return None
        ok, image = cap.read()
        return image if ok else None
    finally:
        cap.release()


class _ThumbSignals(QObject):
    ready = Signal(int, object)  # image id, BGR array or None


class _ThumbJob(QRunnable):
    def __init__(self, image_id: int, path: Path, cache_dir: Path | None, signals: _ThumbSignals,
                 video: tuple[str, int] | None = None) -> None:
        super().__init__()
        self.image_id, self.path, self.cache_dir, self.signals = image_id, path, cache_dir, signals
        self.video = video

    def run(self) -> None:
        try:
            image = make_thumbnail(self.path, self.cache_dir, str(self.image_id), self.video)
        except Exception:  # an unreadable file gets a placeholder, never a crash
            log.warning("thumbnail failed for %s", self.path, exc_info=True)
            image = None
        self.signals.ready.emit(self.image_id, image)


class ImageListModel(QAbstractListModel):
    """Rows are image ids; ``fetch_page(offset, limit)`` returns the records for a slice of them."""

    ImageIdRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, fetch_ids: Callable[[], Sequence[int]],
                 fetch_records: Callable[[Sequence[int]], Sequence[ImageRecord]],
                 cache_dir: Path | None = None, parent: QObject | None = None,
                 fetch_box_counts: Callable[[Sequence[int]], Mapping[int, int]] | None = None) -> None:
        super().__init__(parent)
        self._fetch_ids = fetch_ids
        self._fetch_records = fetch_records
        self._fetch_box_counts = fetch_box_counts
        self._box_counts: dict[int, int] = {}
        self._cache_dir = cache_dir
        self._ids: list[int] = []
        self._rows: dict[int, int] = {}
        self._records: dict[int, ImageRecord] = {}
        self._thumbs: OrderedDict[int, QIcon] = OrderedDict()
        self._pending: set[int] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _ThumbSignals()
        self._signals.ready.connect(self._on_thumb)
        self._placeholder = _placeholder_icon()
        self.thumbnails_requested = 0  # for tests and diagnostics
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self._ids = list(self._fetch_ids())
        self._rows = {image_id: row for row, image_id in enumerate(self._ids)}
        self._records.clear()
        self._box_counts.clear()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def image_id(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, image_id: int) -> int | None:
        return self._rows.get(image_id)

    def record(self, row: int) -> ImageRecord | None:
        image_id = self.image_id(row)
        if image_id is None:
            return None
        if image_id not in self._records:
            start = (row // PAGE) * PAGE
            page = self._ids[start:start + PAGE]
            for rec in self._fetch_records(page):
                self._records[rec.id] = rec
            if self._fetch_box_counts is not None:
                self._box_counts.update(self._fetch_box_counts(page))
        return self._records.get(image_id)

    def row_text(self, row: int) -> str | None:
        """The file name with its marks: "✓" once reviewed, "empty" when it has no box (rejected ones aside)."""
        rec = self.record(row)
        if rec is None:
            return None
        text = f"{REVIEWED_MARK} {rec.path.name}" if rec.reviewed else rec.path.name
        if self._fetch_box_counts is not None and not self._box_counts.get(rec.id, 0):
            text += f"  · {EMPTY_MARK}"
        return text

    def refresh_marks(self, image_id: int) -> None:
        """Read one image's review state and box count again (after an edit on it): that row only."""
        row = self.row_of(image_id)
        if row is not None:
            for rec in self._fetch_records([image_id]):
                self._records[rec.id] = rec
            if self._fetch_box_counts is not None:
                self._box_counts[image_id] = self._fetch_box_counts([image_id]).get(image_id, 0)
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole])

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == self.ImageIdRole:
            return self._ids[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.row_text(index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            rec = self.record(index.row())
            return f"{rec.path}\n{'reviewed' if rec.reviewed else 'to review'}" if rec else None
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(index.row())
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(THUMB + 200, THUMB + 8)
        return None

    def _thumbnail(self, row: int) -> QIcon:
        image_id = self._ids[row]
        icon = self._thumbs.get(image_id)
        if icon is not None:
            self._thumbs.move_to_end(image_id)
            return icon
        if image_id not in self._pending:
            rec = self.record(row)
            if rec is not None:
                self._pending.add(image_id)
                self.thumbnails_requested += 1
                video = (rec.video_path, rec.frame_index) if rec.video_path and rec.frame_index is not None else None
                self._pool.start(_ThumbJob(image_id, rec.path, self._cache_dir, self._signals, video))
        return self._placeholder

    def _on_thumb(self, image_id: int, image: np.ndarray | None) -> None:
        self._pending.discard(image_id)
        if image is None:
            icon = _placeholder_icon(QColor(160, 60, 60))
        else:
            from detector_app.ui.imaging import bgr_to_pixmap

            icon = QIcon(bgr_to_pixmap(image))
        self._thumbs[image_id] = icon
        while len(self._thumbs) > 2000:
            self._thumbs.popitem(last=False)
        row = self.row_of(image_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def wait_for_thumbnails(self, msecs: int = 5000) -> bool:
        return self._pool.waitForDone(int(msecs))


def _placeholder_icon(color: QColor | None = None) -> QIcon:
    image = QImage(THUMB, THUMB, QImage.Format.Format_RGB32)
    image.fill(color or QColor(90, 90, 90))
    return QIcon(QPixmap.fromImage(image))
