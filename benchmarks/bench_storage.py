"""Storage benchmark: a generated project of 10,000 images and 100,000 boxes.

Times the COCO import (validation, hashing and header reads of real files, one transaction), the COCO
export, paging through every image, loading one image's boxes and a few review queries, and prints them
with the targets from issue 4 (import <= 10 s, export <= 5 s, one image's boxes <= 5 ms).

    .venv/bin/python benchmarks/bench_storage.py [--images 10000] [--per-image 10] [--strict]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from detector_app.core.detections import Detections
from detector_app.storage import Project
from detector_app.storage.repository import Repository
from detector_app.transfer.exporting import export_coco
from detector_app.transfer.importing import import_coco

WIDTH, HEIGHT = 320, 240
TARGETS = {"import COCO": 10.0, "export COCO": 5.0, "one image's annotations (p95)": 0.005}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def make_dataset(root: Path, n_images: int, per_image: int, seed: int = 0) -> tuple[Path, Path]:
    """Tiny real PNG files (a few distinct ones, copied) and a COCO file with random boxes inside them."""
    rng = random.Random(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    variants = []
    for shade in range(8):
        buf = io.BytesIO()
        Image.new("RGB", (WIDTH, HEIGHT), (shade * 30, 80, 160)).save(buf, format="PNG")
        variants.append(buf.getvalue())
    categories = [{"id": i + 1, "name": f"class_{i:02d}", "supercategory": "thing"} for i in range(20)]
    images, annotations = [], []
    for i in range(n_images):
        name = f"{i // 1000:02d}/img_{i:06d}.png"
        path = images_dir / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(variants[i % len(variants)])
        images.append({"id": i + 1, "file_name": name, "width": WIDTH, "height": HEIGHT})
        for _ in range(per_image):
            w, h = rng.uniform(4, 80), rng.uniform(4, 80)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": rng.randint(1, 20),
                                "bbox": [rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h), w, h],
                                "area": w * h, "iscrowd": 0, "segmentation": []})
    json_path = root / "instances.json"
    json_path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return json_path, images_dir


def page_all(repo: Repository, page: int = 100) -> int:
    seen, after = 0, None
    while rows := repo.list_images(limit=page, after_id=after):
        seen += len(rows)
        after = rows[-1].id
    return seen


def page_all_by_offset(repo: Repository, total: int, page: int = 100) -> int:
    return sum(len(repo.list_images(offset=start, limit=page)) for start in range(0, total, page))


def one_image_latencies(repo: Repository, ids: list[int], n: int = 300) -> list[float]:
    rng = random.Random(1)
    out = []
    for image_id in rng.sample(ids, min(n, len(ids))):
        start = time.perf_counter()
        repo.annotations_for_image(image_id)
        out.append(time.perf_counter() - start)
    return out


def prediction_batch(repo: Repository, ids: list[int], per_image: int) -> int:
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 200, (per_image, 2))
    dets = Detections(np.hstack([xy, xy + 30]), rng.uniform(0.3, 1, per_image), rng.integers(1, 5, per_image),
                      ("__background__", "class_00", "class_01", "class_02", "class_03"))
    return repo.add_predictions_many((i, dets) for i in ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        root = Path(tmp)
        gen_s, (json_path, images_dir) = timed(lambda: make_dataset(root / "src", args.images, args.per_image))
        print(f"generated {args.images} image files and {args.images * args.per_image} boxes in {gen_s:.1f} s")
        with Project.open(root / "project") as project:
            repo = project.repo
            t, report = timed(lambda: import_coco(repo, json_path, images_dir))
            rows.append(("import COCO", t, f"{report.images_added} images, {report.annotations_added} boxes"))
            t, out = timed(lambda: export_coco(repo, root / "export"))
            size = out.stat().st_size / 1e6
            rows.append(("export COCO", t, f"{size:.1f} MB JSON"))
            t, _ = timed(lambda: export_coco(repo, root / "export-copy", copy_images=True))
            rows.append(("export COCO with --copy-images", t, "image files copied"))
            t, n = timed(lambda: page_all(repo))
            rows.append(("page through all images (keyset, 100/page)", t, f"{n} images"))
            t, n = timed(lambda: page_all_by_offset(repo, args.images))
            rows.append(("page through all images (offset, 100/page)", t, f"{n} images"))
            ids = repo.image_ids()
            latencies = one_image_latencies(repo, ids)
            p95 = statistics.quantiles(latencies, n=20)[-1]
            rows.append(("one image's annotations (p95)", p95, f"median {statistics.median(latencies) * 1e3:.2f} ms"))
            t, n = timed(lambda: len(repo.image_ids(category="class_07")))
            rows.append(("image ids with class_07", t, f"{n} ids"))
            t, _ = timed(repo.class_counts)
            rows.append(("class counts", t, "per class and status"))
            t, n = timed(lambda: prediction_batch(repo, ids[:1000], args.per_image))
            rows.append(("predictions for 1000 images (one transaction)", t, f"{n} boxes"))
            t, n = timed(lambda: len(repo.image_ids("unreviewed")))
            rows.append(("unreviewed image ids", t, f"{n} ids"))
            t, ann = timed(lambda: repo.set_status(repo.annotations_for_image(ids[0])[0].id, "rejected"))
            rows.append(("one edit (own transaction, fsync)", t, ann.status))
    return report_rows(rows, args.strict)


def report_rows(rows: list[tuple[str, float, str]], strict: bool) -> int:
    missed = 0
    print(f"\n{'measure':<48} {'time':>10}  {'target':>8}  note")
    for name, seconds, note in rows:
        target = TARGETS.get(name)
        shown = f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"
        verdict = ""
        if target is not None:
            ok = seconds <= target
            missed += not ok
            verdict = f"{'<=' if ok else 'MISSED'} {target * 1e3:.0f} ms" if target < 1 else \
                f"{'<=' if ok else 'MISSED'} {target:.0f} s"
        print(f"{name:<48} {shown:>10}  {verdict:>8}  {note}")
    print("all targets met" if not missed else f"{missed} target(s) missed")
    return 1 if (missed and strict) else 0


if __name__ == "__main__":
    sys.exit(main())
