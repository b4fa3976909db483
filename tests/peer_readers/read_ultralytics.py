"""Read a YOLO dataset with Ultralytics' own loader and print what it found, as one JSON line.

Usage (in the peer venv, see tests/peers.py): ``python read_ultralytics.py DATA_YAML [DATA_YAML ...]``; several
yamls in one run, as importing Ultralytics takes 5-15 s.

``check_det_dataset`` parses the yaml and resolves the split folders as Ultralytics training would;
``build_yolo_dataset`` builds the ``YOLODataset`` of each split (image list, label paths by its images->labels
rule, label cache); ``verify_image_label`` is run on every pair to count found, missing, empty and corrupt
labels the way its cache does. Prints {"names", "splits": {split: {images, labels_found, missing, empty,
corrupt, boxes, messages, files: {image: [[cls, cx, cy, w, h], ...]}}}} for each yaml, keyed by the path given.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

# Settings, fonts and downloads of Ultralytics go to a throw-away folder; nothing is fetched (offline).
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="ultralytics-config-"))
os.environ.setdefault("YOLO_OFFLINE", "1")

from ultralytics.cfg import get_cfg  # noqa: E402  (after the environment above)
from ultralytics.data.build import build_yolo_dataset  # noqa: E402
from ultralytics.data.utils import check_det_dataset, verify_image_label  # noqa: E402


def read(data_yaml: str) -> dict:
    data = check_det_dataset(data_yaml, autodownload=False)
    cfg = get_cfg(overrides={"imgsz": 64, "cache": False, "fraction": 1.0, "single_cls": False, "task": "detect"})
    out = {"names": [data["names"][i] for i in sorted(data["names"])], "path": str(data["path"]), "splits": {}}
    for split in ("train", "val", "test"):
        if not data.get(split):
            continue
        source = data[split]
        if all(Path(s).is_dir() and not any(Path(s).iterdir()) for s in (source if isinstance(source, list) else [source])):
            out["splits"][split] = {"images": 0, "labels_found": 0, "missing": 0, "empty": 0, "corrupt": 0,
                                    "boxes": 0, "messages": [], "files": {}}
            continue
        dataset = build_yolo_dataset(cfg, source, batch=1, data=data, mode="val")
        found = missing = empty = corrupt = 0
        messages = []
        for image, label in zip(dataset.im_files, dataset.label_files, strict=True):
            result = verify_image_label((image, label, "", False, len(data["names"]), 0, 0, False))
            nm, nf, ne, nc, msg = result[5:10]
            missing, found, empty, corrupt = missing + nm, found + nf, empty + ne, corrupt + nc
            if msg:
                messages.append(msg)
        files = {str(Path(lb["im_file"]).relative_to(data["path"])):
                 [[int(c[0]), *(round(float(v), 6) for v in b)] for c, b in zip(lb["cls"], lb["bboxes"], strict=True)]
                 for lb in dataset.labels}
        out["splits"][split] = {"images": len(dataset.im_files), "labels_found": found, "missing": missing,
                                "empty": empty, "corrupt": corrupt, "boxes": sum(len(v) for v in files.values()),
                                "messages": messages, "files": files}
    return out


if __name__ == "__main__":
    print(json.dumps({path: read(path) for path in sys.argv[1:]}))
