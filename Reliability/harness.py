"""Drives the real lmdflow daemon for the reliability suite (python3 standard library only).

A `Daemon` owns one temporary tree (configuration, drop folders, profiles, state directory),
starts and kills the real `lmdflow daemon` process, reads the catalog read-only with sqlite3 and
samples the process's memory from /proc. Helpers write inputs (a minimal TIFF writer, PNGs,
`lmdflow sample`), and `OutboxWatcher` polls an outbox in a thread and checks every file it sees.
"""

import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
import zlib

BIN = os.environ.get("LMDFLOW_BIN", "")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "testdata")
# Deadlines only catch hangs; on a loaded 2-core machine everything may take several times longer.
TIMEOUT_SCALE = float(os.environ.get("LMDFLOW_RELIABILITY_TIMEOUT_SCALE", "3"))


class Failure(Exception):
    """A check that did not hold; the message says what and with which numbers."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def wait_for(what, timeout, condition, interval=0.05, daemon=None):
    """Polls `condition` until it returns a truthy value or timeout × TIMEOUT_SCALE passes."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = daemon.log_tail() if daemon else ""
            raise Failure(f"timed out after {timeout * TIMEOUT_SCALE:.0f} s waiting for {what}" + (f"\n--- daemon log tail ---\n{tail}" if tail else ""))
        time.sleep(interval)


def quote(path):
    """A YAML double-quoted scalar."""
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Daemon:
    """One temporary lmdflow tree and its daemon process."""

    def __init__(self, name, profiles, folders=None, settle=0.2, rescan=30, extra="", state_dir=None, root=None):
        """profiles: {name: yaml text}; folders: [(folder name, profile name)] under root/inbox."""
        self.root = root or tempfile.mkdtemp(prefix=f"lmdflow-rel-{name}-", dir="/tmp")
        self.state_dir = state_dir or os.path.join(self.root, "state")
        self.profile_dir = os.path.join(self.root, "profiles")
        self.config = os.path.join(self.root, "lmdflow.yml")
        self.log_path = os.path.join(self.root, "daemon.log")
        self.proc = None
        os.makedirs(self.profile_dir, exist_ok=True)
        os.makedirs(self.state_dir, exist_ok=True)
        for profile, text in profiles.items():
            with open(os.path.join(self.profile_dir, profile + ".yml"), "w") as f:
                f.write(text)
        folders = folders or [("inbox", next(iter(profiles)))]
        self.folders = {}
        lines = [
            f"state_dir: {quote(self.state_dir)}",
            f"profile_dirs: [{quote(self.profile_dir)}]",
            f"settle_seconds: {settle}",
            f"rescan_seconds: {rescan}",
            "stop_timeout_seconds: 5",
            extra,
            "drop_folders:",
        ]
        for folder, profile in folders:
            path = os.path.join(self.root, "drop", folder)
            os.makedirs(path, exist_ok=True)
            self.folders[folder] = path
            lines += [f"  - path: {quote(path)}", f"    profile: {profile}"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.inbox = next(iter(self.folders.values()))
        self.staging = os.path.join(self.root, "staging")
        os.makedirs(self.staging, exist_ok=True)

    # -- process ---------------------------------------------------------------------------

    def start(self):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "daemon", "--config", self.config], stdout=log, stderr=log, env=env)
        log.close()
        return self.proc.pid

    def wait_ready(self, timeout=30):
        pid = self.proc.pid

        def ready():
            if self.proc.poll() is not None:
                raise Failure(f"daemon exited with {self.proc.returncode} before it was ready\n{self.log_tail()}")
            rows = self.query("SELECT state, pid FROM daemon WHERE id = 1", quiet=True)
            return bool(rows) and rows[0][0] == "running" and rows[0][1] == pid

        wait_for("daemon ready", timeout, ready, daemon=self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc is None:
            return
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self, timeout=60):
        """SIGTERM; returns the exit status."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=timeout * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise Failure("daemon did not exit within the stop timeout after SIGTERM")
        self.proc = None
        return status

    def cleanup(self):
        if self.proc is not None:
            self.kill9()
        shutil.rmtree(self.root, ignore_errors=True)

    def memory(self):
        """(VmRSS, VmHWM) of the daemon in KiB."""
        values = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, rest = line.split(":", 1)
                    values[key] = int(rest.split()[0])
        return values.get("VmRSS", 0), values.get("VmHWM", 0)

    def log_tail(self, chars=3000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-chars:].decode("utf-8", "replace")
        except OSError:
            return ""

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cli(self, *arguments, timeout=120):
        """Runs `lmdflow ARGS --config CONFIG`; returns (status, stdout, stderr)."""
        done = subprocess.run([BIN, *arguments, "--config", self.config], capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr

    # -- catalog (read-only) -----------------------------------------------------------------

    @property
    def catalog_path(self):
        return os.path.join(self.state_dir, "catalog.sqlite")

    def query(self, sql, args=(), quiet=False):
        if not os.path.exists(self.catalog_path):
            return []
        for attempt in range(50):
            try:
                db = sqlite3.connect(f"file:{self.catalog_path}?mode=ro", uri=True, timeout=10)
                try:
                    return db.execute(sql, args).fetchall()
                finally:
                    db.close()
            except sqlite3.OperationalError as error:
                # A brand-new catalog may not have its tables yet.
                if quiet and ("no such table" in str(error) or "unable to open" in str(error)):
                    return []
                if "locked" in str(error) or "busy" in str(error):
                    time.sleep(0.05)
                    continue
                raise
        raise Failure("catalog stayed locked for reads")

    def integrity(self):
        rows = self.query("PRAGMA integrity_check")
        return ",".join(r[0] for r in rows)

    def run_counts(self):
        return dict(self.query("SELECT state, count(*) FROM runs GROUP BY state"))

    def finished(self, expected):
        """True when `expected` runs exist and none is queued or running."""
        counts = self.run_counts()
        total = sum(counts.values())
        return total >= expected and counts.get("queued", 0) == 0 and counts.get("running", 0) == 0

    def runs(self):
        """[(run id, input path, state, error code, error message, profile, input current path)]."""
        return self.query(
            "SELECT runs.id, inputs.path, runs.state, runs.error_code, runs.error_message, runs.profile, inputs.current_path "
            "FROM runs JOIN inputs ON inputs.id = runs.input_id ORDER BY runs.id")

    def events(self, kind=None):
        if kind:
            return self.query("SELECT kind, path, message FROM events WHERE kind = ? ORDER BY id", (kind,))
        return self.query("SELECT kind, path, message FROM events ORDER BY id")

    # -- inputs ----------------------------------------------------------------------------

    def drop_file(self, source, name, folder=None):
        """Copies `source` to a staging name, then renames it into the drop folder."""
        staged = os.path.join(self.staging, f".{random.getrandbits(48):x}-{name}")
        shutil.copyfile(source, staged)
        target = os.path.join(folder or self.inbox, name)
        os.rename(staged, target)
        return target

    def drop_bytes(self, data, name, folder=None):
        staged = os.path.join(self.staging, f".{random.getrandbits(48):x}-{name}")
        with open(staged, "wb") as f:
            f.write(data)
        target = os.path.join(folder or self.inbox, name)
        os.rename(staged, target)
        return target


# -- input makers --------------------------------------------------------------------------

def tiff_bytes(width, height, pixels=None, samples=1, bits=16, strip_rows=None, strip_count_override=None,
               strip_bytes_override=None, description=b"lmdflow reliability"):
    """A little-endian baseline TIFF with one or more strips. `pixels` (bytes) is the image data; the
    declared sizes may be hostile (overrides), in which case the data is whatever is given."""
    if pixels is None:
        pixels = bytes(width * height * samples * bits // 8)
    rows = strip_rows or height
    strips = strip_count_override or max(1, (height + rows - 1) // rows)
    header = b"II*\x00"
    data_offset = 8
    data = pixels + description + b"\x00"
    desc_offset = data_offset + len(pixels)
    cursor = data_offset + len(data)
    if cursor % 2:
        data += b"\x00"
        cursor += 1
    extra = b""

    def array(fmt, values):
        nonlocal extra, cursor
        blob = struct.pack("<" + fmt * len(values), *values)
        offset = cursor + len(extra)
        extra += blob
        if len(extra) % 2:
            extra += b"\x00"
        return offset

    bytes_per_strip = strip_bytes_override if strip_bytes_override is not None else min(len(pixels), 0xFFFFFFFF)
    if strips == 1:
        offsets_entry = (273, 4, 1, data_offset)
        counts_entry = (279, 4, 1, bytes_per_strip)
    else:
        per = strip_bytes_override if strip_bytes_override is not None else len(pixels) // strips
        offsets_entry = (273, 4, strips, array("I", [data_offset + min(i * per, max(0, len(pixels) - per)) for i in range(strips)]))
        counts_entry = (279, 4, strips, array("I", [per] * strips))
    bits_entry = (258, 3, 1, bits) if samples == 1 else (258, 3, samples, array("H", [bits] * samples))
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), bits_entry, (259, 3, 1, 1), (262, 3, 1, 1),
        (270, 2, len(description) + 1, desc_offset), offsets_entry, (277, 3, 1, samples), (278, 4, 1, rows),
        counts_entry, (284, 3, 1, 1),
    ]
    ifd_offset = cursor + len(extra)
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in sorted(entries):
        if kind == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, kind, count, value)
    ifd += struct.pack("<I", 0)
    return header + struct.pack("<I", ifd_offset) + data + extra + ifd


def small_tiff(seed, size=32):
    """A distinct small uint16 image (content derived from `seed`)."""
    rng = random.Random(seed)
    return tiff_bytes(size, size, rng.randbytes(size * size * 2), description=f"seed {seed}".encode())


def png_bytes(width=16, height=16):
    """A valid grey 8-bit PNG."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes((x * 7 + y * 3) & 255 for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def sample(path, fmt, seed, size, extra=()):
    """`lmdflow sample FMT -o PATH` (nuclei images made by lmdflow's own code)."""
    subprocess.run([BIN, "sample", fmt, "-o", path, "--width", str(size), "--height", str(size), "--seed", str(seed), *extra],
                   check=True, capture_output=True, timeout=120)
    return path


def calibration_json(size):
    return ('{"points_row_col_px": [[10, 10], [10, %d], [%d, %d]]}' % (size - 10, size - 10, size // 2)).encode()


def patch_nd2_attributes(data, values):
    """Overwrites unsigned integer LV entries (e.g. uiWidth) in an ND2's ImageAttributesLV."""
    data = bytearray(data)
    patched = []
    for key, value in values.items():
        needle = (key + "\x00").encode("utf-16-le")
        start = 0
        while True:
            at = data.find(needle, start)
            if at < 0:
                break
            start = at + 1
            kind, length = data[at - 2], data[at - 1]
            if length != len(key) + 1:
                continue
            end = at + len(needle)
            if kind == 3:
                data[end:end + 4] = struct.pack("<I", value & 0xFFFFFFFF)
            elif kind == 5:
                data[end:end + 8] = struct.pack("<Q", value)
            else:
                continue
            patched.append(key)
    return bytes(data), patched


def sha256_file(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(root):
    """{relative path: sha256} of every regular file under root."""
    result = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                result[os.path.relpath(path, root)] = sha256_file(path)
    return result


# -- outbox watcher ------------------------------------------------------------------------

PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
TEMP_MARKERS = (".tmp", ".part", ".partial", "~")


class OutboxWatcher(threading.Thread):
    """Polls an outbox every few milliseconds. Every visible file must be complete the first time
    it is seen (XML parses, PNG has its signature and IEND, JSON parses) and must never change
    size or content under the same inode; no visible name may look temporary. Hidden `.name.tmp-*`
    files are the atomic writer's temporaries: counted, and reported if they outlive the runs."""

    def __init__(self, outbox, interval=0.005):
        super().__init__(daemon=True)
        self.outbox = outbox
        self.interval = interval
        self.stop_event = threading.Event()
        self.seen = {}  # path -> (inode, size, mtime_ns)
        self.checked = 0
        self.polls = 0
        self.hidden_temporaries = set()
        self.violations = []

    def run(self):
        while not self.stop_event.is_set():
            self.poll()
            time.sleep(self.interval)
        self.poll()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)

    def poll(self):
        self.polls += 1
        if not os.path.isdir(self.outbox):
            return
        for directory, _, names in os.walk(self.outbox):
            for name in names:
                path = os.path.join(directory, name)
                if name.startswith("."):
                    if ".tmp-" in name:
                        self.hidden_temporaries.add(path)
                    continue
                if name.endswith(TEMP_MARKERS) or ".tmp-" in name:
                    self.violations.append(f"temporary name visible: {path}")
                    continue
                try:
                    info = os.stat(path)
                except FileNotFoundError:
                    continue
                key = (info.st_ino, info.st_size, info.st_mtime_ns)
                previous = self.seen.get(path)
                if previous == key:
                    continue
                if previous is not None and previous[0] == info.st_ino:
                    self.violations.append(f"{path} changed in place: size {previous[1]} → {info.st_size}")
                problem = self.validate(path)
                self.checked += 1
                if problem:
                    self.violations.append(f"{path}: {problem}")
                self.seen[path] = key

    @staticmethod
    def validate(path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        if len(data) == 0:
            return "empty file"
        lower = path.lower()
        if lower.endswith(".png"):
            if not data.startswith(b"\x89PNG\r\n\x1a\n"):
                return "PNG without its signature"
            if not data.endswith(PNG_END):
                return f"PNG without IEND ({len(data)} bytes)"
        elif lower.endswith(".xml"):
            try:
                ElementTree.fromstring(data)
            except ElementTree.ParseError as error:
                return f"XML does not parse: {error}"
        elif lower.endswith(".json"):
            import json
            try:
                json.loads(data)
            except ValueError as error:
                return f"JSON does not parse: {error}"
        return None

    def stale_temporaries(self):
        """Hidden temporaries still present now."""
        stale = []
        for directory, _, names in os.walk(self.outbox):
            stale += [os.path.join(directory, n) for n in names if n.startswith(".") and ".tmp-" in n]
        return stale
