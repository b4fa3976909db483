"""The MOT Challenge ground-truth codec: one sequence folder per video, ``<seq>/gt/gt.txt``. Pure: no database.

Each line of ``gt.txt`` is ``frame,id,left,top,width,height,conf,class,visibility`` with 1-based frames
(a label set's ``frame_index`` is 0-based) and 1-based pixels as MOT's devkit and motmetrics use them (COCO's
left, top + 1; reading subtracts it again), ``id`` the box's ``track_id``, ``conf`` 1 (a box to evaluate),
``class`` the category's id and ``visibility`` 1 (not recorded). A box on no track gets an id of its own after
the largest track id of its sequence (a one-frame track). Beside it
``gt/labels.txt`` lists ``class name`` (one per line) so that reading gives the names back, and
``seqinfo.ini`` the sequence's name, length and size as MOT does. Images that are not video frames are left
out (a note says how many). With ``copy_images`` the frames are decoded from their video into
``<seq>/img1/000001.jpg`` ...; without, no image is written.

Reading takes a ``gt.txt`` (or the sequence folder holding ``gt/gt.txt``): rows with ``conf`` 0 are MOT's
ignore regions and are skipped; anything malformed raises one ``ImportValidationError`` naming the lines.
"""

from __future__ import annotations

import configparser
import math
from pathlib import Path

from detector_app.core.labels import Box, Category, LabelledImage, LabelSet, Origin, Status
from detector_app.core.names import printable
from detector_app.errors import DetectorAppError, ImportValidationError

GT_FILE = "gt.txt"
LABELS_FILE = "labels.txt"
SEQINFO_FILE = "seqinfo.ini"
IMAGES_DIR = "img1"
MAX_PROBLEMS = 5


class MotCodec:
    """``detector-app export mot OUT``: MOT Challenge sequences from the video frames of a project."""

    name = "mot"
    description = "MOT Challenge gt.txt per video (+ img1/ frames with --copy-images)"

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        sequences = _sequences(labels)
        if not sequences:
            raise DetectorAppError("a MOT export needs video frames with boxes (label a video task first); this "
                                   "selection has none")
        class_id = {c.name: c.id for c in labels.numbered().categories}
        written = []
        for name, (video, frames) in sequences.items():
            folder = out_dir / name
            (folder / "gt").mkdir(parents=True)
            lines = _gt_lines(frames, class_id)
            (folder / "gt" / GT_FILE).write_text("".join(lines), encoding="utf-8")
            (folder / "gt" / LABELS_FILE).write_text("".join(f"{i} {n}\n" for n, i in class_id.items()),
                                                     encoding="utf-8")
            _write_seqinfo(folder, name, frames)
            if copy_images:
                _write_frames(video, frames, folder / IMAGES_DIR)
            written.append(folder / "gt" / GT_FILE)
        return written[0] if len(written) == 1 else out_dir

    def can_read(self) -> bool:
        return True

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        return read_mot(path, images_dir)


def read_mot(path: str | Path, images_dir: str | Path | None = None) -> LabelSet:
    """The boxes of a MOT ``gt.txt`` as frames named ``000001.jpg`` ... relative to ``images_dir`` (default:
    the sequence's ``img1``), each box with its ``track_id``."""
    path = Path(path)
    gt = path / "gt" / GT_FILE if path.is_dir() else path
    seq = gt.parent.parent
    try:
        text = gt.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportValidationError(f"cannot read {printable(gt)}: {exc}") from exc
    names = _read_names(gt.parent / LABELS_FILE)
    width, height = _read_size(seq / SEQINFO_FILE)
    problems: list[str] = []
    boxes: dict[int, list[Box]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = _parse(line)
        if row is None:
            problems.append(f"line {number}: {printable(line)[:60]!r} is not frame,id,left,top,width,height,conf,"
                            "class[,visibility] with a frame >= 1 and a positive width and height")
            continue
        frame, track, x, y, w, h, conf, cls = row
        if conf == 0:
            continue
        name = names.get(cls, f"class_{cls}")
        boxes.setdefault(frame, []).append(Box(name, (x - 1, y - 1, w, h), 0, None, Status.ACCEPTED, Origin.HUMAN,
                                               track_id=track))
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise ImportValidationError(f"{printable(gt)} is not a MOT gt.txt: {shown}{more}")
    folder = Path(images_dir) if images_dir is not None else seq / IMAGES_DIR
    used = sorted({b.category for bs in boxes.values() for b in bs})
    by_name = {n: i for i, n in names.items()}
    categories = tuple(Category(n, by_name.get(n)) for n in used)
    images = tuple(LabelledImage(f"{frame:06d}.jpg", width, height, tuple(bs), folder / f"{frame:06d}.jpg",
                                 frame_index=frame - 1) for frame, bs in sorted(boxes.items()))
    return LabelSet(categories, images, folder)


def _sequences(labels: LabelSet) -> dict[str, tuple[Path, list[LabelledImage]]]:
    """Sequence name (the video's file stem, made unique) -> (video, its frames by index)."""
    by_video: dict[Path, list[LabelledImage]] = {}
    for image in labels.images:
        if image.video_path is not None and image.frame_index is not None:
            by_video.setdefault(Path(image.video_path), []).append(image)
    out: dict[str, tuple[Path, list[LabelledImage]]] = {}
    for video, frames in by_video.items():
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in video.stem) or "video"
        unique, n = name, 2
        while unique in out:
            unique, n = f"{name}-{n}", n + 1
        out[unique] = (video, sorted(frames, key=lambda i: i.frame_index or 0))
    return out


def _gt_lines(frames: list[LabelledImage], class_id: dict[str, int | None]) -> list[str]:
    next_id = max((b.track_id or 0 for f in frames for b in f.boxes), default=0) + 1
    lines = []
    for image in frames:
        for box in image.boxes:
            track = box.track_id
            if track is None:  # a box on no track: a one-frame track of its own
                track, next_id = next_id, next_id + 1
            x, y, w, h = box.bbox
            lines.append(f"{(image.frame_index or 0) + 1},{track},{_num(x + 1)},{_num(y + 1)},{_num(w)},{_num(h)},1,"
                         f"{class_id[box.category]},1\n")
    return lines


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _write_seqinfo(folder: Path, name: str, frames: list[LabelledImage]) -> None:
    first = frames[0]
    length = max(f.frame_index or 0 for f in frames) + 1
    (folder / SEQINFO_FILE).write_text(
        f"[Sequence]\nname={name}\nimDir={IMAGES_DIR}\nseqLength={length}\nimWidth={first.width}\n"
        f"imHeight={first.height}\nimExt=.jpg\n", encoding="utf-8")


def _write_frames(video: Path, frames: list[LabelledImage], folder: Path) -> None:
    # cv2 (and numpy) only for exports that write frames: listing or choosing formats starts without them.
    import cv2

    from detector_app.sources.frame_cache import FrameCache

    folder.mkdir(parents=True)
    with FrameCache(video, budget_bytes=0) as cache:  # in frame order: decoded forward, nothing kept
        for image in frames:
            index = image.frame_index or 0
            if not cv2.imwrite(str(folder / f"{index + 1:06d}.jpg"), cache.frame(index)):
                raise OSError(f"could not write frame {index} of {video.name}")


def _parse(line: str) -> tuple[int, int, float, float, float, float, float, int] | None:
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 8:
        return None
    try:
        frame, track = int(float(parts[0])), int(float(parts[1]))
        x, y, w, h, conf = (float(p) for p in parts[2:7])
        cls = int(float(parts[7]))
    except ValueError:
        return None
    if frame < 1 or not all(math.isfinite(v) for v in (x, y, w, h, conf)) or w <= 0 or h <= 0:
        return None
    return frame, track, x, y, w, h, conf, cls


def _read_names(path: Path) -> dict[int, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    names = {}
    for line in text.splitlines():
        number, _, name = line.strip().partition(" ")
        if number.isdigit() and name.strip():
            names[int(number)] = name.strip()
    return names


def _read_size(path: Path) -> tuple[int, int]:
    info = configparser.ConfigParser()
    try:
        info.read_string(path.read_text(encoding="utf-8"))
        return int(info["Sequence"]["imWidth"]), int(info["Sequence"]["imHeight"])
    except (OSError, UnicodeDecodeError, KeyError, ValueError, configparser.Error) as exc:
        raise ImportValidationError(f"{printable(path)} is missing or does not give imWidth and imHeight ({exc})") \
            from exc
