#!/usr/bin/env python3
"""Format benchmarks (not tests): lmdflow's ND2 reader vs the Python `nd2` package, side by side
in one run on the same files, and writing a 16k x 16k uint16 pyramidal OME-TIFF.

Usage: LMDFLOW_BIN=.build/release/lmdflow ANCHORS=~/.cache/lmdflow-anchors/bin/python \
       python3 Benchmarks/formats_bench.py [--frames N] [--dir DIR]
Needs the anchors venv (../shared/tools/setup-anchors.sh) for the nd2 column.
Prints a Markdown table for docs/PERFORMANCE.md.
"""
import argparse, json, os, re, subprocess, sys, tempfile, time

BIN = os.environ.get("LMDFLOW_BIN", ".build/release/lmdflow")
ANCHORS = os.environ.get("ANCHORS", os.path.expanduser("~/.cache/lmdflow-anchors/bin/python"))

ND2_READ = r"""
import sys, time, nd2
path = sys.argv[1]
with nd2.ND2File(path) as f:
    n = f.attributes.sequenceCount
    start = time.perf_counter(); total = 0
    for i in range(n):
        total += f.read_frame(i).copy().nbytes  # read_frame returns a view of the memory map
    secs = time.perf_counter() - start
print(total, secs)
"""

def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass

def ours(path):
    out = subprocess.run([BIN, "inspect", "--read-all", path], check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    return d["bytes"], d["seconds"]

def theirs(path):
    out = subprocess.run([ANCHORS, "-c", ND2_READ, path], check=True, capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[1])

def best(fn, path, repeats=3):
    runs = [fn(path) for _ in range(repeats)]
    return min(runs, key=lambda r: r[1])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    have_nd2 = os.path.exists(ANCHORS)
    print(f"format benchmarks — {BIN}, nd2 anchor: {'yes' if have_nd2 else 'absent'}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print("| case | file | lmdflow | nd2 (Python) | ratio |")
    print("|---|---|---|---|---|")
    for label, extra in (("raw", []), ("zlib", ["--zlib"])):
        path = os.path.join(args.dir, f"bench-{label}.nd2")
        if not os.path.exists(path):
            subprocess.run([BIN, "sample", "nd2", "-o", path, "--width", "2048", "--height", "2048",
                            "--frames", str(args.frames), "--channels", "1"] + extra, check=True, capture_output=True)
        size = os.path.getsize(path)
        warm(path)
        b1, s1 = best(ours, path)
        row = f"| ND2 {label}, 2048x2048 u16 x {args.frames} frames | {size / 1e6:.0f} MB | {b1 / 1e6 / s1:.0f} MB/s ({s1:.2f} s)"
        if have_nd2:
            b2, s2 = best(theirs, path)
            assert b1 == b2, f"byte counts differ: {b1} vs {b2}"
            row += f" | {b2 / 1e6 / s2:.0f} MB/s ({s2:.2f} s) | {s2 / s1:.2f}x |"
        else:
            row += " | — | — |"
        print(row, flush=True)
    ome = os.path.join(args.dir, "bench-16k.ome.tif")
    start = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", BIN, "sample", "ome", "-o", ome, "--width", "16384", "--height", "16384"],
                         capture_output=True, text=True, check=True)
    secs = time.perf_counter() - start
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1)) / 1024
    print(f"| write OME-TIFF 16384x16384 u16, tiled 512, deflate, pyramid | {os.path.getsize(ome) / 1e6:.0f} MB | {secs:.1f} s, peak RSS {rss:.0f} MiB | — | — |")
    for p in [ome] + [os.path.join(args.dir, f"bench-{l}.nd2") for l in ("raw", "zlib")]:
        os.remove(p)

if __name__ == "__main__":
    main()
