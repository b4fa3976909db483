"""Read labelme JSON files with labelme's own ``LabelFile`` (run in the peer venv by tests/peers.py).

Usage: read_labelme.py PATH...  (JSON files, or folders searched for ``*.json``; dot-files are skipped). Prints
one JSON object: how many files loaded, their shapes by type, the labels, images found by ``imagePath``, and
every file LabelFile refused with its reason.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from labelme import LabelFile, __version__
from loguru import logger  # labelme logs each image it loads; only the counts are printed

try:  # labelme 6 keeps the module private; 5 and earlier called it label_file
    from labelme._label_file import LabelFileError
except ImportError:
    from labelme.label_file import LabelFileError


def files(args: list[str]) -> list[Path]:
    out = []
    for arg in map(Path, args):
        found = sorted(arg.rglob("*.json")) if arg.is_dir() else [arg]
        out.extend(p for p in found if not any(part.startswith(".") for part in p.relative_to(arg).parts)
                   or not arg.is_dir())
    return out


def main() -> None:
    logger.remove()
    kinds: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    loaded, images, failed = 0, 0, []
    for path in files(sys.argv[1:]):
        try:
            label_file = LabelFile(str(path))  # loads the JSON and the image imagePath names (labelme needs it)
        except LabelFileError as exc:
            failed.append(f"{path}: {exc}")
            continue
        loaded += 1
        images += bool(getattr(label_file, "image_data", None) or getattr(label_file, "imageData", None))
        for shape in label_file.shapes:
            kinds[shape["shape_type"]] += 1
            labels[shape["label"]] += 1
    print(json.dumps({"labelme": __version__, "files": loaded, "images": images, "shapes": dict(kinds),
                      "labels": dict(labels), "failed": failed}))


if __name__ == "__main__":
    main()
