#!/usr/bin/env python3
"""Whole-pipeline benchmark (issue 9): a 2-channel 2048² ND2 with ~900 cells from drop to cut file.

The image is scPortrait's reference input (../shared/testdata/scportrait/inputs/synthetic_2ch_2048.tif:
900 synthetic cells, nucleus + cytosol channel), converted to ND2 by `lmdflow sample nd2 --from`.
Three profiles, each run --runs times:

  nuclei-dapi   the shipped profile (NucleusSegmentation finds all 900 nuclei)
  wga-cytosol   the shipped profile (scPortrait's WGASegmentation, 446 cells)
  scp-wga       scPortrait's config_wga.yml as a profile: the same segmentation, extraction
                (image_size 128), scPortrait's CellFeaturizer columns plus ours (mode: both: its
                selection names mask ids, border cells included, which only the raw table has),
                100 cells in two wells as its selection request and its py-lmd settings, so
                every step is the one scPortrait's reference run timed
                (docs/scportrait-reference.md)

For each run: the real daemon (release build, settle_seconds 0.2) watches a drop folder; the file
is renamed in at t0 and the run counts as done when its cut file is in the outbox (t1). Reported:
drop → cut file (t1 − t0, which includes the 0.2 s settle wait), the stage durations from the
catalog, and the daemon's peak RSS (VmHWM). Then `lmdflow process` of the same file under
/usr/bin/time gives the whole-process wall time and peak RSS.

Usage: LMDFLOW_BIN=<release>/lmdflow python3 Benchmarks/pipeline_bench.py [--runs 5]
Standard library only. Prints Markdown tables for docs/PERFORMANCE.md.
"""
import json, os, re, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, time

BIN = os.environ.get("LMDFLOW_BIN", ".build/release/lmdflow")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "testdata", "scportrait")
RUNS = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 5

# scPortrait's reference run (docs/scportrait-reference.md, "call" = the method alone, "wall" = the
# whole Python process): segment, extract, featurize, select → XML, medians of 3.
SCPORTRAIT = {
    "WGA": {"segment": (40.1, 56.1), "extract": (4.3, 19.3), "featurize": (17.7, 32.9), "select + cut": (34.5, 49.4)},
    "DAPI": {"segment": (27.2, 48.8), "extract": (4.3, 24.4), "featurize": (15.4, 30.4), "select + cut": (11.1, 25.3)},
}


def scp_wga_profile() -> str:
    """config_wga.yml's sections as an lmdflow profile (values copied from that file)."""
    # Its selection request (2 × 50 ids → A1/B1) names ids of scPortrait's label image; ours are
    # renumbered 1…n (docs/SEGMENTATION.md), so the same-size request is drawn from our ids: 50
    # each from the top and bottom half of the image, seeded. The calibration crosses are the request's.
    request = json.load(open(os.path.join(SHARED, "outputs", "wga", "selection_request.json")))
    sets = "".join(
        f"    - name: {s['name']}\n      well: {s['well']}\n      select: centroid_y_nucleus {op} 1024\n"
        f"      sample: {{n: {len(s['classes'])}, seed: 1}}\n"
        for s, op in zip(request["cell_sets"], ["<=", ">"]))
    marks = request["calibration_marker"]
    return f"""description: scPortrait's config_wga.yml (reference run) as an lmdflow profile
stages: [ingest, segment, extract, featurize, select, cut]
ingest:
  verify_hash: true
WGASegmentation:
  lower_quantile_normalization: 0.001
  upper_quantile_normalization: 0.999
  median_filter_size: 4
  nucleus_segmentation: {{lower_quantile_normalization: 0.01, upper_quantile_normalization: 0.99, median_block: 41,
    median_step: 4, threshold: 0.2, min_distance: 8, peak_footprint: 7, speckle_kernel: 9, dilation: 0,
    min_size: 100, max_size: 1000, contact_filter: 0.5}}
  cytosol_segmentation: {{threshold: 0.05, lower_quantile_normalization: 0.01, upper_quantile_normalization: 0.99,
    erosion: 2, dilation: 7, min_clip: 0, max_clip: 0.2, min_size: 200, max_size: 6000}}
  filter_masks_size: true
HDF5CellExtraction:
  compression: true
  image_size: 128
  normalize_output: true
  normalization_range: [0.001, 0.999]
CellFeaturizer:
  mode: both
LMDSelection:
  segmentation_channel: seg_all_cytosol
  shape_dilation: 10
  binary_smoothing: 3
  convolution_smoothing: 25
  path_optimization: hilbert
  greedy_k: 15
  hilbert_p: 7
  xml_decimal_transform: 100
  distance_heuristic: 300
  calibration_points: [[{marks[0][0]}, {marks[0][1]}], [{marks[1][0]}, {marks[1][1]}], [{marks[2][0]}, {marks[2][1]}]]
  cell_sets:
{sets}"""


def vm_hwm(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def daemon_run(root: str, nd2: str, profile: str, index: int) -> dict:
    """One drop into a fresh daemon; returns drop → cut seconds, stage seconds and peak RSS (MB)."""
    tree = tempfile.mkdtemp(prefix=f"pipe-{profile}-", dir=root)
    inbox = f"{tree}/inbox"
    os.makedirs(inbox)
    with open(f"{tree}/lmdflow.yml", "w") as f:
        f.write(f"state_dir: {tree}/state\nprofile_dirs: [{root}/profiles, {ROOT}/share/lmdflow/profiles]\n"
                f"settle_seconds: 0.2\nconcurrency: 1\nlog_level: warning\n"
                f"drop_folders:\n  - path: {inbox}\n    profile: {profile}\n")
    log = open(f"{tree}/daemon.log", "w")
    proc = subprocess.Popen([BIN, "daemon", "--config", f"{tree}/lmdflow.yml"], stdout=log, stderr=log)
    db = f"{tree}/state/catalog.sqlite"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(db):
                try:
                    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                    if con.execute("SELECT state FROM daemon").fetchall() == [("running",)]:
                        con.close()
                        break
                    con.close()
                except sqlite3.Error:
                    pass
            time.sleep(0.02)
        else:
            raise SystemExit(f"daemon did not start: {open(f'{tree}/daemon.log').read()[-2000:]}")
        with open(f"{inbox}/cells.calibration.json", "w") as f:
            f.write('{"points_row_col_px": [[10, 10], [10, 2000], [2000, 1000]]}')
        staged = f"{tree}/cells.nd2"
        shutil.copyfile(nd2, staged)
        outbox = f"{tree}/state/outbox/cells"
        t0 = time.monotonic()
        os.rename(staged, f"{inbox}/cells.nd2")
        polls = 0
        while True:
            polls += 1
            done = os.path.isdir(outbox) and any(n.endswith(".xml") for n in os.listdir(outbox))
            if done:
                t1 = time.monotonic()
                break
            failed = False
            if polls % 40 == 0 and os.path.exists(db):
                try:
                    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                    failed = con.execute("SELECT count(*) FROM runs WHERE state = 'failed'").fetchone()[0] > 0
                    con.close()
                except sqlite3.Error:
                    pass
            if failed or proc.poll() is not None or time.monotonic() - t0 > 600:
                raise SystemExit(f"{profile}: no cut file; log:\n{open(f'{tree}/daemon.log').read()[-3000:]}")
            time.sleep(0.005)
        peak = vm_hwm(proc.pid)
        # The run row is completed right after the outbox copy; wait for it.
        for _ in range(500):
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            rows = con.execute("SELECT id, state FROM runs").fetchall()
            con.close()
            if rows and rows[0][1] == "succeeded":
                break
            time.sleep(0.01)
        out = subprocess.run([BIN, "show", str(rows[0][0]), "--config", f"{tree}/lmdflow.yml", "--json"],
                             capture_output=True, text=True, check=True)
        details = json.loads(out.stdout)
        stages = {s["name"]: s["duration_s"] for s in details["stages"]}
        cells = {s["name"]: s["message"] for s in details["stages"]}
        return {"total": t1 - t0, "stages": stages, "messages": cells, "rss_mb": peak}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(tree, ignore_errors=True)


def process_run(root: str, nd2: str, profile: str) -> tuple:
    tree = tempfile.mkdtemp(prefix=f"proc-{profile}-", dir=root)
    shutil.copyfile(nd2, f"{tree}/cells.nd2")
    with open(f"{tree}/cells.calibration.json", "w") as f:
        f.write('{"points_row_col_px": [[10, 10], [10, 2000], [2000, 1000]]}')
    with open(f"{tree}/lmdflow.yml", "w") as f:
        f.write(f"state_dir: {tree}/state\nprofile_dirs: [{root}/profiles, {ROOT}/share/lmdflow/profiles]\n"
                f"log_level: warning\ndrop_folders: []\n")
    res = subprocess.run(["/usr/bin/time", "-v", BIN, "process", f"{tree}/cells.nd2", "--profile", profile,
                          "--config", f"{tree}/lmdflow.yml"], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"process {profile} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", res.stderr)
    seconds = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1)) // 1024
    shutil.rmtree(tree, ignore_errors=True)
    return seconds, rss


def fmt(values) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    source = os.path.join(SHARED, "inputs", "synthetic_2ch_2048.tif")
    if not os.path.exists(source):
        raise SystemExit(f"{source} absent: the benchmark needs ../shared/testdata")
    root = tempfile.mkdtemp(prefix="lmdflow-pipeline-bench-")
    try:
        os.makedirs(f"{root}/profiles")
        with open(f"{root}/profiles/scp-wga.yml", "w") as f:
            f.write(scp_wga_profile())
        nd2 = f"{root}/synthetic_2ch_2048.nd2"
        subprocess.run([BIN, "sample", "nd2", "--from", source, "-o", nd2], check=True, capture_output=True)
        print(f"input: {nd2} ({os.path.getsize(nd2)} bytes), {RUNS} runs per profile, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}\n")
        results = {}
        for profile in ["nuclei-dapi", "wga-cytosol", "scp-wga"]:
            runs = [daemon_run(root, nd2, profile, i) for i in range(RUNS)]
            procs = [process_run(root, nd2, profile) for _ in range(max(1, RUNS // 2))]
            results[profile] = (runs, procs)
        stage_names = ["ingest", "segment", "extract", "featurize", "select", "cut"]
        print("| profile | " + " | ".join(stage_names) + " | drop → cut file | `lmdflow process` wall | peak RSS (daemon / process) |")
        print("|---|" + "---|" * (len(stage_names) + 3))
        for profile, (runs, procs) in results.items():
            cols = [fmt([r["stages"].get(s, 0.0) for r in runs]) for s in stage_names]
            print(f"| {profile} | " + " | ".join(cols) + f" | **{fmt([r['total'] for r in runs])}** | "
                  f"{fmt([p[0] for p in procs])} | {max(r['rss_mb'] for r in runs)} / {max(p[1] for p in procs)} MB |")
        print("\nstage messages (first run):")
        for profile, (runs, _) in results.items():
            print(f"- {profile}: " + "; ".join(f"{k}: {v}" for k, v in runs[0]["messages"].items()))
        # Side by side with scPortrait on the same steps (its figures: docs/scportrait-reference.md).
        print("\n| steps (same image, same config) | lmdflow (scp-wga), median | scPortrait call / whole process | speed-up call / process |")
        print("|---|---|---|---|")
        runs = results["scp-wga"][0]
        pairs = [("segment", ["segment"]), ("extract", ["extract"]), ("featurize", ["featurize"]),
                 ("select + cut", ["select", "cut"])]
        total_ours = 0.0
        for label, ours in pairs:
            value = statistics.median([sum(r["stages"].get(s, 0.0) for s in ours) for r in runs])
            total_ours += value
            call, wall = SCPORTRAIT["WGA"][label]
            print(f"| {label} | {value:.2f} s | {call} s / {wall} s | {call / value:.0f}x / {wall / value:.0f}x |")
        call = sum(v[0] for v in SCPORTRAIT["WGA"].values())
        wall = sum(v[1] for v in SCPORTRAIT["WGA"].values())
        drop = statistics.median([r["total"] for r in runs])
        print(f"| **segment + extract + featurize + select → XML** | {total_ours:.2f} s (drop → cut file {drop:.2f} s) | "
              f"{call:.1f} s / {wall:.1f} s | **{call / drop:.0f}x / {wall / drop:.0f}x** (vs drop → cut) |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
