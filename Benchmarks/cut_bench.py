#!/usr/bin/env python3
"""Cut-file benchmark (not a test): `lmdflow cut` vs py-lmd 1.6.1 on the same reference case,
side by side in one run (whole process, wall time), plus lmdcompare on both outputs.

Usage: LMDFLOW_BIN=.build/release/lmdflow python3 Benchmarks/cut_bench.py [CASE ...] [--no-pylmd]
  CASE: a directory of ../shared/testdata/lmd (default: b_1k and c_10k).
  py-lmd runs from the anchors venv (../shared/tools/setup-anchors.sh); on c_10k it takes ~6 min.
"""
import os, subprocess, sys, tempfile, time

BIN = os.environ.get("LMDFLOW_BIN", ".build/release/lmdflow")
PY = os.environ.get("ANCHORS", os.path.expanduser("~/.cache/lmdflow-anchors/bin/python"))
ROOT = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(ROOT, "..", "..", "shared")

def timed(cmd):
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, res

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    run_pylmd = "--no-pylmd" not in sys.argv and os.path.exists(PY)
    cases = args or ["b_1k", "c_10k"]
    print(f"cut benchmark — {BIN}, py-lmd: {'yes' if run_pylmd else 'no'}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print("| case | cells | lmdflow cut (wall) | py-lmd 1.6.1 (wall) | speed-up | lmdcompare vs py-lmd's reference |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        d = os.path.join(SHARED, "testdata", "lmd", case)
        out = tempfile.mkdtemp(prefix="cutbench-")
        ours = os.path.join(out, "ours.xml")
        t1, r1 = timed([BIN, "cut", "--mask", f"{d}/mask.tif", "--sets", f"{d}/cellsets.json", "--calibration",
                        f"{d}/calibration.json", "--config", f"{d}/config.yaml", "-o", ours])
        if r1.returncode != 0:
            print(f"| {case} | — | failed: {r1.stderr.strip()[:200]} | | | |")
            continue
        import json
        cells = sum(len(s["classes"]) for s in json.load(open(f"{d}/cellsets.json")))
        t2 = None
        if run_pylmd:
            t2, r2 = timed([PY, os.path.join(SHARED, "tools", "run_pylmd.py"), d, "--out", os.path.join(out, "pylmd.xml")])
            if r2.returncode != 0:
                t2 = None
        ref = f"{d}/pylmd.xml" if os.path.exists(f"{d}/pylmd.xml") else f"{d}/pylmd.xml.gz"
        cmp = subprocess.run([PY, os.path.join(SHARED, "tools", "lmdcompare.py"), ref, ours], capture_output=True, text=True) \
            if os.path.exists(PY) else None
        verdict = cmp.stdout.strip().splitlines()[-1] if cmp and cmp.stdout.strip() else "—"
        speed = f"{t2 / t1:.0f}x" if t2 else "—"
        print(f"| {case} | {cells} | {t1:.2f} s | {f'{t2:.1f} s' if t2 else '—'} | {speed} | {verdict[:160]} |", flush=True)

if __name__ == "__main__":
    main()
