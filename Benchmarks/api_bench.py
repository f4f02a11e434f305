#!/usr/bin/env python3
"""HTTP API load check: requests per second and latency (p50/p99) of the run list and of a cut-file
download, served by the real daemon on loopback while it is processing a run.

  1. `lmdflow demo --dir D` makes a finished run (run 1, with its cut file and preview).
  2. The demo's configuration gets `http: {enabled: true, port: 0}`; `lmdflow daemon` starts on it.
  3. A 8192 x 8192 nuclei image is dropped into the demo folder, so the daemon is busy
     segmenting, extracting and featurizing while wrk runs (both share the 2 cores).
  4. wrk (Debian's `wrk`, 2 threads, 16 connections, 10 s each) on /api/v1/runs and on
     /api/v1/runs/1/files/<cut xml>; then the same with the daemon idle.

LMDFLOW_BIN=<release>/lmdflow python3 Benchmarks/api_bench.py
"""
import json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def wrk(url, seconds=10):
    r = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True)
    out = r.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, pct(50), pct(99), int(errors.group(1)) if errors else 0


def main():
    lmdflow = os.environ.get("LMDFLOW_BIN", os.path.join(ROOT, ".build/release/lmdflow"))
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    tmp = tempfile.mkdtemp(prefix="lmdflow-api-bench-")
    try:
        subprocess.run([lmdflow, "demo", "--dir", tmp, "--profile-dir", os.path.join(ROOT, "share/lmdflow/profiles"),
                        "--log-level", "warning"], check=True, capture_output=True)
        config = os.path.join(tmp, "lmdflow.yml")
        with open(config, "a") as f:
            f.write("http: {enabled: true, port: 0, requests_per_minute: 0}\n")
        daemon = subprocess.Popen([lmdflow, "daemon", "--config", config, "--log-level", "warning"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(tmp, "state/http.port")
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        port = int(open(port_file).read().strip())
        base = f"http://127.0.0.1:{port}"
        run = json.load(urllib.request.urlopen(f"{base}/api/v1/runs/1"))
        xml = next(o for o in run["outputs"] if o["name"].endswith(".xml"))["name"]
        inbox = next(os.path.join(tmp, "inbox", d) for d in os.listdir(os.path.join(tmp, "inbox")))
        big = os.path.join(tmp, "big.tif")
        subprocess.run([lmdflow, "sample", "tiff", "-o", big, "--width", "8192", "--height", "8192", "--seed", "9"], check=True)
        with open(os.path.join(inbox, "big.calibration.json"), "w") as f:
            json.dump({"points_row_col_px": [[10, 10], [10, 8180], [8180, 4090]]}, f)
        print("| endpoint | daemon | requests/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|---|")
        os.rename(big, os.path.join(inbox, "big.tif"))
        time.sleep(1.5)  # settle + claim: the run is processing from here on
        def running():
            return len(json.load(urllib.request.urlopen(f"{base}/api/v1/runs?state=running"))["runs"])
        for label, path in (("run list", "/api/v1/runs"), (f"cut file ({xml})", f"/api/v1/runs/1/files/{xml}")):
            before = running()
            rps, p50, p99, bad = wrk(base + path)
            print(f"| {label} | processing an 8192² run | {rps:.0f} | {p50:.2f} | {p99:.2f} | {bad} |  "
                  f"<!-- runs running before/after: {before}/{running()} -->", flush=True)
        for _ in range(600):
            if not running():
                break
            time.sleep(1)
        for label, path in (("run list", "/api/v1/runs"), (f"cut file ({xml})", f"/api/v1/runs/1/files/{xml}")):
            rps, p50, p99, bad = wrk(base + path)
            print(f"| {label} | idle | {rps:.0f} | {p50:.2f} | {p99:.2f} | {bad} |", flush=True)
        last = json.load(urllib.request.urlopen(f"{base}/api/v1/runs"))["runs"]
        print("\nruns: " + ", ".join(f"{r['id']} {r['state']}" for r in last))
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
