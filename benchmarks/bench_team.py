"""Team load test (issue 16): annotator processes edit one PostgreSQL project at once, then the database is checked
against what the server acknowledged.

Each client process opens the project as its own annotator and, for ``--seconds``, loads an image's boxes, looks
at them for a moment (``--think-ms``) and makes one edit through ``review.Reviewer`` as the GUI does: accept, move,
draw, relabel, or undo its own last edit. It logs every acknowledged edit (the box's revision it was based on, the
revision written and the box as written) and counts the edits refused as stale (someone changed the box since it
was loaded). Afterwards the database must equal the replay of the logs: for every box the acknowledged writes form
one chain of revisions (each based on the one before: no lost update), no revision is acknowledged twice (no
duplicate), the stored box is the last acknowledged one, and every other error (a deadlock, say) is counted.

    .venv/bin/python benchmarks/bench_team.py [--clients 8] [--seconds 60] [--url URL --media-root DIR]

Without ``--url`` a throw-away server is started (tests/pg_server.py). Prints edits/s and the p99 latency of an
edit call (its reads and its commit).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from detector_app.core.detections import Detections
from detector_app.errors import StaleEditError
from detector_app.review import Edit, Reviewer
from detector_app.storage import Project
from detector_app.storage.records import AnnotationRecord

CLASSES = ("__background__", "cat", "dog", "bird")
OPS = {"accept": 0.25, "move": 0.25, "draw": 0.15, "relabel": 0.2, "undo": 0.15}
SIZE = 200


def setup_project(url: str, media_root: Path, images: int, boxes: int, seed: int = 0) -> list[dict[str, Any]]:
    """A project of ``images`` small images with ``boxes`` predictions each; returns every box as stored."""
    rng = np.random.default_rng(seed)
    folder = media_root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(images):
        Image.new("RGB", (SIZE, SIZE), (n * 20 % 256, 90, 140)).save(folder / f"{n:03}.png")
    with Project.open(url, media_root=media_root) as project:
        for name in CLASSES[1:]:  # the team's class list is set up before work starts
            project.repo.ensure_category(name)
        records = project.repo.add_images_from_folder(folder)
        for record in records:
            xy = rng.uniform(0, SIZE - 60, (boxes, 2))
            dets = Detections(np.hstack([xy, xy + 40]).astype(np.float32), rng.uniform(0.3, 1, boxes),
                              rng.integers(1, len(CLASSES), boxes), CLASSES)
            project.repo.add_predictions(record.id, dets)
        return [_state(a) for r in records for a in project.repo.annotations_for_image(r.id)]


def _state(a: AnnotationRecord) -> dict[str, Any]:
    return {"id": a.id, "revision": a.revision, "bbox": [round(v, 3) for v in a.bbox], "category": a.category_name,
            "status": a.status}


def client(url: str, media_root: str, index: int, seconds: float, think_ms: float, log_path: str) -> dict[str, Any]:
    """One annotator process: edits until ``seconds`` are over; each acknowledged write is one line in the log."""
    rng = random.Random(index)
    stale = errors = 0
    latencies: list[float] = []
    undo_stack: list[Edit] = []
    error_messages: list[str] = []
    with Project.open(url, media_root=Path(media_root)) as project, open(log_path, "w") as log:
        project.repo.annotator = f"annotator{index}"
        reviewer = Reviewer(project.repo)
        image_ids = project.repo.image_ids()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            image_id = rng.choice(image_ids)
            loaded = project.repo.annotations_for_image(image_id)
            time.sleep(rng.uniform(0, think_ms) / 1000)  # a person looks before acting
            op = rng.choices(list(OPS), weights=list(OPS.values()))[0]
            if op == "undo" and not undo_stack or op != "draw" and op != "undo" and not loaded:
                op = "draw"
            box = rng.choice(loaded) if loaded else None
            start = time.perf_counter()
            try:
                if op == "undo":
                    edit = undo_stack.pop()
                    based = [None if now is None else reviewer.revision_of(now) for now in edit.after]
                    done = reviewer.undo(edit)
                    written = list(zip(edit.after, done.before, based, strict=True))
                else:
                    done = _edit(reviewer, op, box, image_id, rng)
                    undo_stack.append(done)
                    written = [(b, a, None if b is None else b.revision) for b, a in zip(done.before, done.after,
                                                                                           strict=True)]
            except StaleEditError:
                stale += 1
                continue
            except Exception as exc:  # noqa: BLE001 - every other failure (a deadlock above all) is counted
                errors += 1
                error_messages.append(f"{op}: {type(exc).__name__}: {exc}"[:300])
                continue
            latencies.append(time.perf_counter() - start)
            for was, after, based_on in written:
                box_id = after.id if after is not None else was.id  # type: ignore[union-attr]
                entry = {"op": op, "client": index, "based": based_on, "id": box_id,
                         "state": None if after is None else _state(after)}
                log.write(json.dumps(entry) + "\n")
            log.flush()
    return {"client": index, "stale": stale, "errors": errors, "error_messages": error_messages[:5],
            "latencies": latencies}


def _edit(reviewer: Reviewer, op: str, box: AnnotationRecord | None, image_id: int, rng: random.Random) -> Edit:
    if op == "draw" or box is None:
        x, y = rng.uniform(0, SIZE - 30), rng.uniform(0, SIZE - 30)
        return reviewer.draw(image_id, rng.choice(CLASSES[1:]), (x, y, 20.0, 20.0))
    if op == "accept":
        return reviewer.accept(box.id, box.revision)
    if op == "move":
        x, y, w, h = box.bbox
        return reviewer.move(box.id, (x + rng.uniform(-5, 5), y + rng.uniform(-5, 5), w, h), box.revision)
    return reviewer.relabel(box.id, rng.choice([c for c in CLASSES[1:] if c != box.category_name]), box.revision)


def verify(initial: list[dict[str, Any]], log_paths: list[Path], final: list[dict[str, Any]]) -> dict[str, int]:
    """Replay the acknowledged writes and compare with the database; every count but ``acknowledged`` must be 0."""
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    acknowledged = 0
    for path in log_paths:
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            events[entry["id"]].append(entry)
            acknowledged += 1
    start = {b["id"]: b for b in initial}
    stored = {b["id"]: b for b in final}
    lost = duplicated = unexplained = 0
    for box_id in set(events) | set(start) | set(stored):
        writes = sorted((e for e in events.get(box_id, []) if e["state"] is not None),
                        key=lambda e: e["state"]["revision"])
        deletes = [e for e in events.get(box_id, []) if e["state"] is None]
        revisions = [e["state"]["revision"] for e in writes]
        duplicated += len(revisions) - len(set(revisions)) + max(0, len(deletes) - 1)
        expected = start.get(box_id)
        for e in writes:  # a chain: each write is based on the revision the one before it wrote
            previous = None if expected is None else expected["revision"]
            if e["based"] != previous or e["state"]["revision"] != (previous or 0) + 1:
                lost += 1
            expected = e["state"]
        if deletes:
            lost += int(expected is None or deletes[-1]["based"] != expected["revision"])
            expected = None
        if expected is None and box_id in stored:
            unexplained += 1  # a box no acknowledged write explains (e.g. a draw stored twice)
        elif expected is not None and stored.get(box_id) != expected:
            lost += 1  # the stored box is not the last acknowledged one
    return {"acknowledged": acknowledged, "lost": lost, "duplicated": duplicated, "unexplained": unexplained}


def run(url: str, media_root: Path, clients: int, seconds: float, images: int, boxes: int,
        think_ms: float) -> dict[str, Any]:
    """Set up, run the clients in processes, verify; the result with every figure."""
    started = time.perf_counter()
    initial = setup_project(url, media_root, images, boxes)
    logs = [media_root / f"client{i}.jsonl" for i in range(clients)]
    set_up = time.perf_counter() - started
    with ProcessPoolExecutor(clients, mp_context=_processes()) as pool:
        futures = [pool.submit(client, url, str(media_root), i, seconds, think_ms, str(logs[i]))
                   for i in range(clients)]
        results = [f.result(timeout=seconds + 300) for f in futures]
    wall = time.perf_counter() - started
    with Project.open(url, media_root=media_root) as project:
        final = [_state(a) for i in project.repo.image_ids() for a in project.repo.annotations_for_image(i)]
        per_annotator = {name: c.boxes_edited for name, c in project.repo.annotator_counts().items()}
    latencies = sorted(x for r in results for x in r["latencies"])
    checked = verify(initial, logs, final)
    edits = len(latencies)
    return {
        **checked, "clients": clients, "seconds": seconds, "edits": edits,
        "edits_per_s": edits / seconds, "wall_s": wall, "setup_s": set_up,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
        "stale_refused": sum(r["stale"] for r in results), "errors": sum(r["errors"] for r in results),
        "error_messages": [m for r in results for m in r["error_messages"]][:10],
        "boxes_last_edited_by": per_annotator,
    }


def _processes() -> multiprocessing.context.BaseContext:
    """fork where there is one: 8 clients re-importing the app (spawn) take longer than a short run itself. The
    parent holds no open connection when it forks (its project is closed); each client opens its own."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--images", type=int, default=24, help="few images: clients meet on the same boxes")
    parser.add_argument("--boxes", type=int, default=4, help="predictions per image")
    parser.add_argument("--think-ms", type=float, default=30.0, help="at most this long between load and edit")
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a throw-away server)")
    parser.add_argument("--media-root", type=Path, help="with --url: the media folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    server = None
    if args.url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests import pg_server  # the tests' throw-away server

        server = pg_server.start()
        args.url = server.create_database(f"bench_team_{uuid.uuid4().hex[:8]}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp:
            media_root = args.media_root or Path(tmp)
            result = run(args.url, media_root, args.clients, args.seconds, args.images, args.boxes, args.think_ms)
    finally:
        if server is not None:
            server.stop()
    print(f"{result['clients']} annotators x {result['seconds']:.0f} s: {result['edits']} edits acknowledged, "
          f"{result['edits_per_s']:.1f} edits/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms")
    print(f"stale edits refused: {result['stale_refused']}; other errors: {result['errors']} "
          f"{result['error_messages'] or ''}")
    print(f"replay of the logs vs the database: lost {result['lost']}, duplicated {result['duplicated']}, "
          f"unexplained boxes {result['unexplained']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    ok = result["lost"] == result["duplicated"] == result["unexplained"] == result["errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
