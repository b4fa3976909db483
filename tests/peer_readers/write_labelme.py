"""Write labelme JSON files with labelme's own ``LabelFile.save`` (run in the peer venv by tests/peers.py), so
that our importer is tried on files exactly as labelme's GUI saves them.

Usage: write_labelme.py SPEC.json  where SPEC is a list of {"json": path, "image": imagePath relative to the
JSON, "shapes": [{"label", "points", "shape_type"}, ...], "embed": bool}; the image must exist (its size is
written; with "embed" its bytes too, as labelme does by default, its ``store_data`` setting). Prints
one JSON object: the files written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from labelme import LabelFile
from loguru import logger
from PIL import Image


def main() -> None:
    logger.remove()  # labelme logs each file it writes
    written = []
    for entry in json.loads(Path(sys.argv[1]).read_text()):
        target = Path(entry["json"])
        with Image.open(target.parent / entry["image"]) as image:
            width, height = image.size
        shapes = [{"label": s["label"], "points": s["points"], "shape_type": s["shape_type"], "group_id": None,
                   "description": "", "flags": {}, "mask": None} for s in entry["shapes"]]
        data = LabelFile.load_image_file(str(target.parent / entry["image"])) if entry.get("embed") else None
        LabelFile().save(filename=str(target), shapes=shapes, image_path=entry["image"], image_height=height,
                         image_width=width, image_data=data)
        written.append(str(target))
    print(json.dumps({"written": written}))


if __name__ == "__main__":
    main()
