"""Putting a label set's images into an export folder, and naming them relative to a folder."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from detector_app.core.labels import LabelledImage, LabelSet
from detector_app.errors import StorageError


def copy_images(labels: LabelSet, folder: Path) -> LabelSet:
    """Copy every image into ``folder`` (a video frame whose file is gone is decoded from its video);
    the returned label set names each image relative to ``folder``. Clashing names get the image id first."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    images = []
    for image in labels.images:
        source = image.path
        exists = source is not None and source.is_file()
        stem = Path(image.file_name).stem
        name = source.name if exists and source is not None else f"{stem}.png"
        name = f"{image.id}_{name}" if name in taken else name
        target = folder / name
        if exists and source is not None:
            shutil.copyfile(source, target)
        elif image.video_path is not None and image.frame_index is not None:
            _write_video_frame(image, target)
        else:
            raise StorageError(f"cannot export image {image.id}: {source} is missing")
        taken.add(name)
        images.append(replace(image, file_name=name, path=target))
    return replace(labels, images=tuple(images), images_dir=folder)


def relative_to_common_folder(labels: LabelSet) -> LabelSet:
    """Name each image relative to the deepest folder holding them all (recorded as ``images_dir``)."""
    paths = [i.path for i in labels.images if i.path is not None]
    if not paths:
        return replace(labels, images_dir=Path("."))
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    images = tuple(replace(i, file_name=i.path.relative_to(root).as_posix()) if i.path is not None else i
                   for i in labels.images)
    return replace(labels, images=images, images_dir=root)


def _write_video_frame(image: LabelledImage, target: Path) -> None:
    import cv2  # only exports of frames whose file is gone need video decoding

    capture = cv2.VideoCapture(str(image.video_path))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, image.frame_index)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or not cv2.imwrite(str(target), frame):
        raise StorageError(f"cannot export image {image.id}: frame {image.frame_index} of "
                           f"{image.video_path} cannot be read")
