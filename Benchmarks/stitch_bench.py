#!/usr/bin/env python3
"""Stitching benchmark, whole process under /usr/bin/time: `lmdflow stitch` (release build) and,
when the anchors venv has it, ASHLAR 1.20 (`ashlar`, filepattern reader) on the same tile sets,
same registration channel, writing a pyramidal OME-TIFF of all channels.

Sets: ../shared/testdata/stitching/real_scportrait_3x3 (real 3x3, 1080² tiles, 2 channels; ASHLAR
needs --flip-y, lmdflow detects it), gtcut_r002_c000 (3x3, 400² tiles, 3 channels), the 4x3
multi-position ND2 from Nikon's writer (lmdflow only: ASHLAR reads ND2 through Bio-Formats, which
needs a Java runtime that is not installed here), and with --large a synthetic 8x8 scan of
1024² tiles (tiles written as TIFFs, both tools).

LMDFLOW_BIN=/tmp/lead-release/release/lmdflow ~/.cache/lmdflow-anchors/bin/python Benchmarks/stitch_bench.py [--runs 3] [--large]
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
VENV_BIN = os.path.expanduser("~/.cache/lmdflow-anchors/bin")


def timed(cmd, env=None):
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", r.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    seconds = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) == 3 else 0)
    user = float(re.search(r"User time \(seconds\): (\S+)", r.stderr).group(1))
    system = float(re.search(r"System time \(seconds\): (\S+)", r.stderr).group(1))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    return {"wall": seconds, "cpu": user + system, "rss": rss, "stdout": r.stdout}


def summary(runs):
    walls = [r["wall"] for r in runs]
    cpus = [r["cpu"] for r in runs]
    return statistics.median(walls), statistics.median(cpus), max(r["rss"] for r in runs)


def make_large(folder, rows=8, cols=8, tile=1024, overlap=0.1, seed=5):
    """A synthetic scan: a nuclei-like image cut into a jittered grid of tiles, two channels."""
    import numpy as np
    import tifffile
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    step = int(tile * (1 - overlap))
    height, width = step * (rows - 1) + tile + 40, step * (cols - 1) + tile + 40
    base = np.zeros((height, width), np.float32)
    n = height * width // 900
    ys, xs = rng.integers(0, height, n), rng.integers(0, width, n)
    base[ys, xs] = rng.uniform(2000, 6000, n)
    base = ndimage.gaussian_filter(base, 4) * 60
    second = ndimage.gaussian_filter(base, 9) * 3
    truth = {}
    for r in range(rows):
        for c in range(cols):
            y = 20 + r * step + int(rng.integers(-6, 7))
            x = 20 + c * step + int(rng.integers(-6, 7))
            truth[f"r{r}_c{c}"] = [y, x]
            for name, img in (("DAPI", base), ("WGA", second)):
                t = img[y:y + tile, x:x + tile] + rng.normal(100, 20, (tile, tile))
                tifffile.imwrite(os.path.join(folder, f"tile_{name}_r{r:03}_c{c:03}.tif"),
                                 np.clip(t, 0, 65535).astype(np.uint16))
    with open(os.path.join(folder, "truth.json"), "w") as f:
        json.dump({"tile": tile, "overlap": overlap, "origins_yx": truth}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmdflow", default=os.environ.get("LMDFLOW_BIN", os.path.join(ROOT, ".build/release/lmdflow")))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ashlar-runs", type=int, default=1)
    ap.add_argument("--large", action="store_true", help="also an 8x8 scan of 1024² tiles")
    args = ap.parse_args()
    ashlar = os.path.join(VENV_BIN, "ashlar")
    have_ashlar = os.path.exists(ashlar)
    tiles = os.path.join(SHARED, "testdata/stitching")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        sets = [
            ("real_scportrait_3x3 (2 ch, 1080² tiles)", os.path.join(tiles, "real_scportrait_3x3"),
             "Timepoint001_Row02_Well04_{channel}_zstack001_r{row:03}_c{col:03}.tif", 0.1, "DAPI", 30, ["--flip-y"]),
            ("gtcut_r002_c000 (3 ch, 400² tiles)", os.path.join(tiles, "gtcut_r002_c000"),
             "tile_{channel}_r{row:03}_c{col:03}.tif", 0.175, "DAPI", 15, []),
            ("lim-multipos-4x3 ND2 (2 ch, 384x288)", os.path.join(SHARED, "testdata/nd2-generated/lim-multipos-4x3-2ch.nd2"),
             None, None, "DAPI", 15, None),
        ]
        if args.large:
            large = os.path.join(tmp, "large")
            os.makedirs(large)
            make_large(large)
            sets.append(("synthetic 8x8 scan (2 ch, 1024² tiles)", large, "tile_{channel}_r{row:03}_c{col:03}.tif",
                         0.1, "DAPI", 15, []))
        print("| set | lmdflow wall s | lmdflow CPU s | lmdflow RSS MB | ASHLAR wall s | ASHLAR CPU s | ASHLAR RSS MB | speed-up wall / CPU |")
        print("|---|---|---|---|---|---|---|---|")
        for label, path, pattern, overlap, channel, max_shift, ashlar_flags in sets:
            out = os.path.join(tmp, "ours.ome.tif")
            cmd = [args.lmdflow, "stitch", path, "-o", out, "--channel", channel, "--max-shift", str(max_shift), "--json"]
            if pattern:
                cmd += ["--pattern", pattern, "--overlap", str(overlap)]
            ours = [timed(cmd) for _ in range(args.runs)]
            info = json.loads(ours[-1]["stdout"])
            w, c, m = summary(ours)
            row = f"| {label} | {w:.2f} | {c:.2f} | {m:.0f} |"
            if have_ashlar and ashlar_flags is not None:
                # ASHLAR's filepattern reader numbers channels in sorted name order.
                channels = sorted({m.group("c") for m in (re.match(re.escape(pattern).replace(r"\{channel\}", "(?P<c>.+?)")
                                                                  .replace(r"\{row:03\}", r"\d{3}").replace(r"\{col:03\}", r"\d{3}") + "$", f)
                                                         for f in os.listdir(path)) if m})
                spec = f"filepattern|{path}|pattern={pattern}|overlap={overlap}"
                theirs = [timed([ashlar, spec, *ashlar_flags, "-m", str(max_shift), "-c", str(channels.index(channel)),
                                 "-o", os.path.join(tmp, "ashlar.ome.tif")], env=env) for _ in range(args.ashlar_runs)]
                aw, ac, am = summary(theirs)
                row += f" {aw:.2f} | {ac:.2f} | {am:.0f} | {aw / w:.1f}x / {ac / c:.1f}x |"
            else:
                row += " – | – | – | – |"
            print(row + f"  <!-- {info['width']}x{info['height']}, {info['accepted_pairs']}/{info['pairs']} pairs, "
                        f"orientation {info['orientation']} -->", flush=True)


if __name__ == "__main__":
    main()
