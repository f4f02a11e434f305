#!/usr/bin/env python3
"""Single-cell benchmark (not a test): extraction to single_cells.h5sc + featurization of ~10,000
cells with 4 channels, through the real pipeline (`lmdflow process`, masks imported), whole
process wall time and the stages' own durations from the catalog.

Usage: LMDFLOW_BIN=.build/release/lmdflow <anchors-python> Benchmarks/singlecell_bench.py [--cells N] [--runs R]
  Needs numpy + tifffile (the anchors venv: ../shared/tools/setup-anchors.sh).

scPortrait cannot be installed offline here; its figures are the measured run in
../shared/docs/scportrait-reference.md (extraction 4.3 s for 429 cells, CellFeaturizer 17.7 s,
inside the call, 2 cores), scaled per cell — stated as such in docs/PERFORMANCE.md.
"""
import json, os, subprocess, sys, tempfile, time

import numpy as np
import tifffile

BIN = os.environ.get("LMDFLOW_BIN", ".build/release/lmdflow")


def make_sample(path_image, path_mask, cells):
    """A grid of cells: elliptic nuclei inside irregular cytoplasm, 4 channels (uint16)."""
    pitch = 48
    side = int(np.ceil(np.sqrt(cells)))
    margin = 70  # so that scPortrait's border rule (image_size 128 → 64 px) keeps every cell
    size = side * pitch + 2 * margin
    rng = np.random.default_rng(20261123)
    yy, xx = np.mgrid[0:pitch, 0:pitch]
    nucleus = np.zeros((size, size), np.uint32)
    cytosol = np.zeros((size, size), np.uint32)
    label = 0
    for gy in range(side):
        for gx in range(side):
            if label >= cells:
                break
            label += 1
            cy, cx = pitch / 2 + rng.uniform(-4, 4), pitch / 2 + rng.uniform(-4, 4)
            a, b, t = rng.uniform(6, 11), rng.uniform(5, 9), rng.uniform(0, np.pi)
            dy, dx = yy - cy, xx - cx
            u = (dx * np.cos(t) + dy * np.sin(t)) / a
            v = (-dx * np.sin(t) + dy * np.cos(t)) / b
            nuc = u * u + v * v <= 1
            r = rng.uniform(16, 22) * (1 + 0.15 * np.sin(3 * np.arctan2(dy, dx) + rng.uniform(0, 6)))
            cyt = (dy * dy + dx * dx <= r * r) | nuc
            y0, x0 = margin + gy * pitch, margin + gx * pitch
            nucleus[y0:y0 + pitch, x0:x0 + pitch][nuc] = label
            cytosol[y0:y0 + pitch, x0:x0 + pitch][cyt] = label
    image = np.empty((4, size, size), np.uint16)
    base = rng.normal(300, 30, (size, size))
    image[0] = np.clip(base + (nucleus > 0) * rng.normal(3000, 400, (size, size)), 0, 65535)
    image[1] = np.clip(base + (cytosol > 0) * rng.normal(1500, 300, (size, size)), 0, 65535)
    image[2] = np.clip(base + rng.gamma(2, 200, (size, size)) * (cytosol > 0), 0, 65535)
    image[3] = np.clip(base + rng.normal(800, 200, (size, size)), 0, 65535)
    tifffile.imwrite(path_image, image, ome=True, metadata={"axes": "CYX", "Channel": {"Name": ["dapi", "wga", "gfp", "bg"]}})
    tifffile.imwrite(path_mask, np.stack([nucleus, cytosol]), ome=True, metadata={"axes": "CYX"})
    return label, size


def main():
    cells = int(sys.argv[sys.argv.index("--cells") + 1]) if "--cells" in sys.argv else 10000
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    work = tempfile.mkdtemp(prefix="scbench-")
    inbox = os.path.join(work, "inbox")
    os.makedirs(inbox)
    image, mask = os.path.join(inbox, "slide.ome.tif"), os.path.join(inbox, "slide.mask.tif")
    n, size = make_sample(image, mask, cells)
    with open(os.path.join(work, "profile.yml"), "w") as f:
        f.write("""description: single-cell benchmark
stages: [segment, extract, featurize]
ImportSegmentation:
  mask_names: [nucleus, cytosol]
HDF5CellExtraction:
  image_size: 128
  compression: lzf
CellFeaturizer:
  mode: %s
""")
    print(f"single-cell benchmark — {BIN}, {n} cells, {size}x{size} px, 4 channels, 2 masks, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print("| featurize mode | run | whole process (wall) | extract stage | featurize stage | peak RSS |")
    print("|---|---|---|---|---|---|")
    for mode in ["raw", "scportrait", "both"]:
        text = open(os.path.join(work, "profile.yml")).read()
        profile = os.path.join(work, f"profile-{mode}.yml")
        with open(profile, "w") as f:
            f.write(text % mode)
        for r in range(runs):
            state = tempfile.mkdtemp(prefix="state-", dir=work)
            config = os.path.join(state, "lmdflow.yml")
            with open(config, "w") as f:
                f.write(f"state_dir: {state}\nprofile_dirs: [{work}]\ndrop_folders: []\n")
            start = time.perf_counter()
            res = subprocess.run(["/usr/bin/time", "-v", BIN, "process", image, "--profile", profile, "--config", config, "--json"],
                                 capture_output=True, text=True)
            wall = time.perf_counter() - start
            if res.returncode != 0:
                errors = [l for l in res.stderr.splitlines() if not l.startswith(("\t", "  ")) and "Command being timed" not in l]
                print(f"| {mode} | {r + 1} | failed: {' '.join(errors)[-400:]} | | | |")
                break
            rss = next((int(l.split()[-1]) for l in res.stderr.splitlines() if "Maximum resident" in l), 0) / 1024
            show = subprocess.run([BIN, "show", "1", "--config", config, "--json"], capture_output=True, text=True)
            stages = {s["name"]: s for s in json.loads(show.stdout)["stages"]}
            ex = stages.get("extract", {}).get("durationSeconds") or stages.get("extract", {}).get("duration_s")
            fe = stages.get("featurize", {}).get("durationSeconds") or stages.get("featurize", {}).get("duration_s")
            print(f"| {mode} | {r + 1} | {wall:.2f} s | {ex:.2f} s | {fe:.2f} s | {rss:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
