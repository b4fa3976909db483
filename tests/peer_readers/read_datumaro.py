"""Import a dataset with Datumaro (run in the peer venv by tests/peers.py).

Usage: read_datumaro.py FORMAT PATH [--convert-to FORMAT2 OUT]  (Datumaro format names: cvat, voc_detection,
coco_instances, ...). Prints one JSON object: items, boxes (``Bbox`` annotations), boxes marked crowd, items and
boxes per subset, the label names, and the item ids. With ``--convert-to`` the dataset is also written in
FORMAT2 into OUT with its images, by Datumaro's own exporter (a dataset as that tool writes it, for our import).
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter

import datumaro as dm
from datumaro.components.annotation import AnnotationType


def main() -> None:
    logging.disable(logging.WARNING)  # Datumaro logs each missing image file; the counts are what matter
    fmt, path = sys.argv[1], sys.argv[2]
    dataset = dm.Dataset.import_from(path, fmt)
    if sys.argv[3:4] == ["--convert-to"]:
        dataset.export(sys.argv[5], sys.argv[4], save_media=True)
    items: Counter[str] = Counter()
    boxes: Counter[str] = Counter()
    crowd = 0
    ids = []
    for item in dataset:
        items[item.subset] += 1
        ids.append(item.id)
        for ann in item.annotations:
            if ann.type == AnnotationType.bbox:
                boxes[item.subset] += 1
                crowd += bool(ann.attributes.get("is_crowd")) or bool(ann.attributes.get("difficult"))
    categories = dataset.categories().get(AnnotationType.label)
    labels = [c.name for c in categories.items] if categories is not None else []
    print(json.dumps({"datumaro": dm.__version__, "format": fmt, "items": sum(items.values()),
                      "boxes": sum(boxes.values()), "crowd": crowd, "items_by_subset": dict(items),
                      "boxes_by_subset": dict(boxes), "labels": labels, "ids": sorted(ids)}))


if __name__ == "__main__":
    main()
