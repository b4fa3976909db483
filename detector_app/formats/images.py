"""Putting a label set's images into an export folder, and naming them relative to a folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from detector_app.core.labels import LabelledImage, LabelSet
from detector_app.core.names import printable
from detector_app.errors import SourceError, StorageError

if TYPE_CHECKING:
    from detector_app.sources.video_frames import VideoFrames


def copy_images(labels: LabelSet, folder: Path) -> LabelSet:
    """Copy every image into ``folder`` (a video frame whose file is gone is decoded from its video);
    the returned label set names each image relative to ``folder``. Clashing names get the image id first.
    An image with a ``content_hash`` (from a project) is copied only when its file has that sha256; ``""``
    (a row without a stored hash) or a mismatch refuses the whole export."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    images = []
    frames: VideoFrames | None = None  # opened at the first frame whose file is gone
    try:
        for image in labels.images:
            source = image.path
            exists = source is not None and source.is_file()
            stem = Path(image.file_name).stem
            name = source.name if exists and source is not None else f"{stem}.png"
            name = f"{image.id}_{name}" if name in taken else name
            target = folder / name
            if exists and source is not None:
                _check_image_file(image, source)
                _copy_checked(image, source, target)
            elif image.video_path is not None and image.frame_index is not None:
                if frames is None:
                    # Imports OpenCV: only exports of frames whose file is gone need video decoding.
                    from detector_app.sources.video_frames import VideoFrames
                    frames = VideoFrames()
                _write_video_frame(image, target, frames)
            else:
                raise StorageError(f"cannot export: image {image.id}: {printable(source)} is missing or not a "
                                   "regular file; nothing was written")
            taken.add(name)
            images.append(replace(image, file_name=name, path=target))
    finally:
        if frames is not None:
            frames.close()
    return replace(labels, images=tuple(images), images_dir=folder)


def _copy_checked(image: LabelledImage, source: Path, target: Path) -> None:
    """Copy ``source``; with a known ``content_hash`` (a project's image) keep the copy only when its sha256 is
    that hash (the copy itself is hashed: what was checked is what is exported)."""
    shutil.copyfile(source, target)
    if image.content_hash is None:  # a label set read from files: nothing stored to compare with
        return
    digest = hashlib.sha256()
    try:
        with open(target, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if image.content_hash and digest.hexdigest() == image.content_hash.lower():
        return
    target.unlink(missing_ok=True)
    raise StorageError(f"image {image.id}: the file at {printable(source)} is not the image the project stored "
                       "(its content changed or the row was edited); nothing was written")


def _check_image_file(image: LabelledImage, path: Path) -> None:
    """Copy only a regular file that opens as an image: an edited row must not export a device, a FIFO or
    a key file under an image's name."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = False
    if not regular or not _opens_as_image(path):
        raise StorageError(f"cannot export: image {image.id} has a stored path {printable(path)} that is not an "
                           "image file; nothing was written")


def _opens_as_image(path: Path) -> bool:
    # Pillow (0.1-0.2 s to import) only for exports that copy images: a plain export starts without it.
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(path):  # reads the header only
            return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _write_video_frame(image: LabelledImage, target: Path, frames: VideoFrames) -> None:
    import cv2  # only exports of frames whose file is gone need video decoding

    assert image.video_path is not None and image.frame_index is not None
    try:
        frame = frames.frame(image.video_path, image.frame_index)
    except SourceError as exc:
        raise StorageError(f"cannot export image {image.id}: {exc}; nothing was written") from None
    if not cv2.imwrite(str(target), frame):
        raise StorageError(f"cannot export image {image.id}: {target} cannot be written; nothing was written")
