#!/usr/bin/env python3
"""Daemon benchmarks (not tests): drive the release `lmdflow` binary on a temporary tree.

  1. latency from close-write to run start, settle_seconds 0 (goal: median < 200 ms)
  2. idle CPU of the daemon over a minute with one watched folder (goal: no busy polling)
  3. time to queue 10,000 files dropped at once (renamed into the folder)

Usage: LMDFLOW_BIN=.build/release/lmdflow python3 Benchmarks/daemon_bench.py [--quick]
Prints a Markdown table for docs/PERFORMANCE.md. Uses only the Python standard library.
"""
import json, os, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, time
from datetime import datetime, timezone

BIN = os.environ.get("LMDFLOW_BIN", ".build/release/lmdflow")
QUICK = "--quick" in sys.argv
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A minimal valid little-endian TIFF: 4x4 uint8, one strip; `tag` makes each file's content unique.
def tiny_tiff(tag: int) -> bytes:
    import struct
    pixels = bytes([(tag + i) & 0xFF for i in range(16)])
    entries = [(256, 3, 1, 4), (257, 3, 1, 4), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 3, 1, 4), (279, 4, 1, 16)]
    ifd_offset = 8 + 16
    out = b"II*\x00" + struct.pack("<I", ifd_offset) + pixels
    out += struct.pack("<H", len(entries))
    for tag_id, typ, count, value in entries:
        if typ == 3:
            out += struct.pack("<HHIHH", tag_id, typ, count, value, 0)
        else:
            out += struct.pack("<HHII", tag_id, typ, count, value)
    out += struct.pack("<I", 0)
    return out

class Daemon:
    def __init__(self, settle: float, concurrency: int = 2, rescan: float = 30):
        self.root = tempfile.mkdtemp(prefix="lmdflow-bench-")
        self.inbox = f"{self.root}/inbox"
        os.makedirs(self.inbox)
        os.makedirs(f"{self.root}/profiles")
        with open(f"{self.root}/profiles/bench.yml", "w") as f:
            f.write("stages: [ingest]\n")
        with open(f"{self.root}/lmdflow.yml", "w") as f:
            f.write(f"state_dir: {self.root}/state\nprofile_dirs: [{self.root}/profiles]\n"
                    f"settle_seconds: {settle}\nrescan_seconds: {rescan}\nconcurrency: {concurrency}\n"
                    f"log_level: warning\ndrop_folders:\n  - path: {self.inbox}\n    profile: bench\n")
        self.log = open(f"{self.root}/daemon.log", "w")
        self.proc = subprocess.Popen([BIN, "daemon", "--config", f"{self.root}/lmdflow.yml"], stderr=self.log, stdout=self.log)
        self.db = f"{self.root}/state/catalog.sqlite"
        self.wait(lambda: self.query("SELECT state FROM daemon") == [("running",)], 30, "ready")

    def query(self, sql, args=()):
        if not os.path.exists(self.db):
            return []
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            con.close()

    def wait(self, cond, timeout, what, interval=0.005):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            time.sleep(interval)
        raise SystemExit(f"timeout waiting for {what}; log in {self.root}/daemon.log")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

def parse_ts(text):
    # GRDB stores dates as "YYYY-MM-DD HH:MM:SS.SSS" in UTC.
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()

def bench_latency(samples):
    d = Daemon(settle=0, concurrency=1)
    latencies = []
    try:
        for i in range(samples):
            path = f"{d.inbox}/lat{i}.tif"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, tiny_tiff(i))
            os.close(fd)
            closed = time.time()
            d.wait(lambda: d.query("SELECT started_at FROM runs WHERE id = ? AND started_at IS NOT NULL", (i + 1,)), 10, f"run {i + 1}")
            started = parse_ts(d.query("SELECT started_at FROM runs WHERE id = ?", (i + 1,))[0][0])
            latencies.append((started - closed) * 1000)
            d.wait(lambda: d.query("SELECT state FROM runs WHERE id = ?", (i + 1,)) == [("succeeded",)], 10, "run end")
    finally:
        d.stop()
    latencies.sort()
    return statistics.median(latencies), latencies[int(0.9 * (len(latencies) - 1))], max(latencies)

def bench_idle(seconds):
    d = Daemon(settle=2)
    try:
        time.sleep(3)
        before = d.cpu_seconds()
        time.sleep(seconds)
        used = d.cpu_seconds() - before
    finally:
        d.stop()
    return used, used / seconds * 100

def bench_queue(count):
    d = Daemon(settle=0, concurrency=2)
    staging = f"{d.root}/staging"
    os.makedirs(staging)
    try:
        for i in range(count):
            with open(f"{staging}/q{i}.tif", "wb") as f:
                f.write(tiny_tiff(i) + i.to_bytes(4, "little"))
        start = time.time()
        for i in range(count):
            os.rename(f"{staging}/q{i}.tif", f"{d.inbox}/q{i}.tif")
        renamed = time.time() - start
        d.wait(lambda: d.query("SELECT COUNT(*) FROM runs") == [(count,)], 1800, f"{count} runs queued", interval=0.05)
        queued = time.time() - start
        d.wait(lambda: d.query("SELECT COUNT(*) FROM runs WHERE state IN ('succeeded','failed')") == [(count,)], 3600,
               "all runs done", interval=0.2)
        finished = time.time() - start
        failed = d.query("SELECT COUNT(*) FROM runs WHERE state = 'failed'")[0][0]
    finally:
        d.stop()
    return renamed, queued, finished, failed

def main():
    samples = 10 if QUICK else 50
    idle = 10 if QUICK else 60
    count = 1000 if QUICK else 10000
    print(f"lmdflow daemon benchmarks — {BIN}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}", flush=True)
    median, p90, worst = bench_latency(samples)
    print(f"| close-write → run start, settle 0 ({samples} files) | median {median:.1f} ms, p90 {p90:.1f} ms, max {worst:.1f} ms | goal < 200 ms |", flush=True)
    used, pct = bench_idle(idle)
    print(f"| idle CPU over {idle} s, 1 folder | {used:.3f} s CPU ({pct:.3f} %) | goal: no busy polling |", flush=True)
    renamed, queued, finished, failed = bench_queue(count)
    print(f"| {count} files dropped at once | all queued after {queued:.1f} s ({count / queued:.0f} files/s); all {count} runs done after {finished:.1f} s, {failed} failed | — |", flush=True)

if __name__ == "__main__":
    main()
