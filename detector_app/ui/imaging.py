"""numpy (OpenCV BGR) <-> Qt image conversion."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A deep copy, so the QImage outlives the numpy buffer."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3])
    height, width = int(image.shape[0]), int(image.shape[1])
    qimage = QImage(image.data, width, height, int(image.strides[0]), QImage.Format.Format_BGR888)
    return qimage.copy()


def bgr_to_pixmap(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(bgr_to_qimage(image))
