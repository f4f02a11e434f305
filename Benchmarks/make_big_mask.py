#!/usr/bin/env python3
"""Writes a large synthetic label mask (for the 100k-cell cut benchmark) with its cell sets and
calibration: N ellipses (radius 6-14 px) on a jittered grid, uint32 zlib TIFF.

Usage: ANCHORS_PY Benchmarks/make_big_mask.py OUT_DIR [--size 20000] [--cells 100000] [--seed 1]
(needs numpy and tifffile: the anchors venv has both).
"""
import argparse, json, os
import numpy as np
import tifffile

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--size", type=int, default=20000)
ap.add_argument("--cells", type=int, default=100000)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
rng = np.random.default_rng(a.seed)
mask = np.zeros((a.size, a.size), dtype=np.uint32)
per_side = int(np.ceil(np.sqrt(a.cells)))
step = a.size / per_side
yy, xx = np.mgrid[-15:16, -15:16]
label = 0
for i in range(per_side):
    for j in range(per_side):
        if label >= a.cells:
            break
        cy = int((i + 0.5) * step + rng.uniform(-step / 6, step / 6))
        cx = int((j + 0.5) * step + rng.uniform(-step / 6, step / 6))
        ry, rx = rng.uniform(6, min(14, step / 2.5), size=2)
        disk = (yy / ry) ** 2 + (xx / rx) ** 2 <= 1
        y0, x0 = cy - 15, cx - 15
        if y0 < 0 or x0 < 0 or y0 + 31 > a.size or x0 + 31 > a.size:
            continue
        label += 1
        window = mask[y0:y0 + 31, x0:x0 + 31]
        window[disk & (window == 0)] = label
os.makedirs(a.out, exist_ok=True)
tifffile.imwrite(os.path.join(a.out, "mask.tif"), mask, compression="zlib", bigtiff=True, tile=(512, 512))
json.dump([{"name": "all", "classes": list(range(1, label + 1)), "well": "A1"}], open(os.path.join(a.out, "cellsets.json"), "w"))
json.dump({"points_row_col_px": [[0, 0], [0, a.size], [a.size, a.size // 2]]}, open(os.path.join(a.out, "calibration.json"), "w"))
print(f"{label} cells on {a.size}x{a.size} in {a.out}")
