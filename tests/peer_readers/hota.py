"""HOTA of one tracked sequence with TrackEval's own metric (run in the peer venv by tests/peers.py: TrackEval's
wheel requires the non-headless opencv-python, which clashes with PySide6 in the main venv).

Usage: hota.py DATA.json, the sequence as TrackEval's ``HOTA.eval_sequence`` takes it: per frame the ground
truth ids, the tracker ids and their IoU matrix (ids numbered from 0). Prints one JSON object: HOTA, DetA and
AssA (each the mean over TrackEval's IoU thresholds) and TrackEval's version.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

import numpy as np
from trackeval.metrics import HOTA


def main(path: str) -> None:
    raw = json.loads(open(path, encoding="utf-8").read())
    gt_ids = [np.asarray(ids, int) for ids in raw["gt_ids"]]
    tracker_ids = [np.asarray(ids, int) for ids in raw["tracker_ids"]]
    similarity = [np.asarray(s, float).reshape(len(g), len(t))
                  for s, g, t in zip(raw["similarity_scores"], gt_ids, tracker_ids, strict=True)]
    data = {
        "num_timesteps": len(gt_ids),
        "num_gt_ids": int(max((ids.max() + 1 for ids in gt_ids if len(ids)), default=0)),
        "num_tracker_ids": int(max((ids.max() + 1 for ids in tracker_ids if len(ids)), default=0)),
        "num_gt_dets": sum(len(ids) for ids in gt_ids),
        "num_tracker_dets": sum(len(ids) for ids in tracker_ids),
        "gt_ids": gt_ids, "tracker_ids": tracker_ids, "similarity_scores": similarity,
    }
    res = HOTA().eval_sequence(data)
    print(json.dumps({k.lower(): float(np.mean(res[k])) for k in ("HOTA", "DetA", "AssA")}
                     | {"trackeval": version("trackeval")}))


if __name__ == "__main__":
    main(sys.argv[1])
