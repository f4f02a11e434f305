"""The reliability scenarios. Each takes (sizes, rng seed, log) and returns a result dict:
{"scenario", "status": PASS|FAIL|SKIP, "summary", "numbers": {...}, "problems": [...]}."""

import datetime
import glob
import json
import os
import random
import shutil
import subprocess
import time

from harness import (BIN, REPO, SHARED, Daemon, Failure, OutboxWatcher, calibration_json, check, hash_tree, png_bytes,
                     patch_nd2_attributes, sample, sha256_file, small_tiff, tiff_bytes, wait_for)

INGEST = "description: reliability ingest only\nstages: [ingest]\ningest:\n  verify_hash: true\n"


def demo_profile():
    with open(os.path.join(REPO, "share", "lmdflow", "profiles", "demo.yml")) as f:
        return f.read()


def is_root():
    return os.geteuid() == 0


def parse_time(text):
    """Catalog times are UTC `YYYY-MM-DD HH:MM:SS.SSS`."""
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()


def result(name, problems, summary, numbers, skipped=None):
    if skipped:
        return {"scenario": name, "status": "SKIP", "summary": skipped, "numbers": numbers, "problems": []}
    return {"scenario": name, "status": "FAIL" if problems else "PASS", "summary": summary, "numbers": numbers,
            "problems": problems}


def one_run_per_input(daemon, names, folder=None):
    """Problems unless every dropped name has exactly one run and it succeeded."""
    problems = []
    folder = folder or daemon.inbox
    by_input = {}
    for run_id, path, state, code, message, _, _ in daemon.runs():
        by_input.setdefault(path, []).append((run_id, state, code, message))
    for name in names:
        runs = by_input.get(os.path.join(folder, name), [])
        if len(runs) != 1 or runs[0][1] != "succeeded":
            problems.append(f"{name}: runs {[(r[0], r[1], r[2]) for r in runs]} (expected exactly one succeeded)")
    extra = set(by_input) - {os.path.join(folder, n) for n in names}
    if extra:
        problems.append(f"runs for unexpected inputs: {sorted(extra)[:5]}")
    return problems


# -- a. kill -9 at random moments ----------------------------------------------------------------

def kill9(sizes, seed, log):
    trials, size = sizes["kill_trials"], sizes["image"]
    rng = random.Random(seed)
    daemon = Daemon("kill9", {"demo": demo_profile()}, settle=0.2, extra="max_attempts: 3")
    outbox = os.path.join(daemon.state_dir, "outbox")
    watcher = OutboxWatcher(outbox)
    problems, names, killed_in, integrity_failures = [], [], {}, 0
    resumed_skips = 0
    try:
        def drop(index):
            stem = f"k{index:03d}"
            daemon.drop_bytes(calibration_json(size), f"{stem}.calibration.json")
            source = sample(os.path.join(daemon.staging, f"{stem}.tif"), "tiff", seed * 1000 + index, size)
            daemon.drop_file(source, f"{stem}.tif")
            names.append(f"{stem}.tif")
            return time.time()

        daemon.start()
        daemon.wait_ready()
        watcher.start()
        # Warm-up run (no kill): the stage timeline the kill moments are drawn from.
        dropped = drop(0)
        wait_for("warm-up run", 120, lambda: daemon.finished(1), daemon=daemon)
        check(daemon.run_counts().get("succeeded") == 1, f"warm-up run did not succeed: {daemon.runs()}\n{daemon.log_tail()}")
        run_id = daemon.runs()[0][0]
        started, finished = daemon.query("SELECT started_at, finished_at FROM runs WHERE id = ?", (run_id,))[0]
        windows = [("intake", 0.0, parse_time(started) - dropped)]
        for name, s, f in daemon.query("SELECT name, started_at, finished_at FROM stages WHERE run_id = ? ORDER BY ordinal", (run_id,)):
            windows.append((name, parse_time(s) - dropped, parse_time(f) - dropped))
        windows.append(("publish", windows[-1][2], parse_time(finished) - dropped))
        total = parse_time(finished) - dropped
        log(f"  warm-up run: {total:.2f} s from drop to done; windows " +
            ", ".join(f"{n} {a:.2f}–{b:.2f}" for n, a, b in windows))

        stage_names = [w[0] for w in windows[1:-1]]

        def stage_state(path, stage):
            rows = daemon.query("SELECT stages.state FROM stages JOIN runs ON runs.id = stages.run_id JOIN inputs ON "
                                "inputs.id = runs.input_id WHERE inputs.path = ? AND stages.name = ?", (path, stage))
            return rows[0][0] if rows else None

        def run_state(path):
            rows = daemon.query("SELECT runs.state FROM runs JOIN inputs ON inputs.id = runs.input_id WHERE inputs.path = ?", (path,))
            return rows[0][0] if rows else None

        for trial in range(1, trials + 1):
            # Cycle through the windows so every stage gets kills: wait until the target stage has
            # started (watching the catalog), then kill at a random moment within its warm-up duration.
            target, start, end = windows[(trial - 1) % len(windows)]
            fraction = rng.random()
            dropped = drop(trial)
            path = os.path.join(daemon.inbox, names[-1])
            deadline = time.monotonic() + 60
            if target == "intake":
                delay = fraction * end
                time.sleep(delay)
            else:
                watch = target if target != "publish" else stage_names[-1]
                wanted = ("running", "succeeded", "skipped", "failed") if target != "publish" else ("succeeded", "failed")
                while time.monotonic() < deadline and stage_state(path, watch) not in wanted and run_state(path) not in ("succeeded", "failed"):
                    time.sleep(0.002)
                delay = fraction * max(0.0, end - start)
                time.sleep(delay)
                delay = time.time() - dropped
            daemon.kill9()
            # Where did it die?
            runs = daemon.query("SELECT runs.id, runs.state FROM runs JOIN inputs ON inputs.id = runs.input_id WHERE inputs.path = ?",
                                (os.path.join(daemon.inbox, names[-1]),))
            if not runs:
                where = "intake"
            elif runs[0][1] in ("succeeded", "failed"):
                where = "after run"
            else:
                stage = daemon.query("SELECT name FROM stages WHERE run_id = ? AND state = 'running'", (runs[0][0],))
                where = stage[0][0] if stage else ("queued" if runs[0][1] == "queued" else "between stages/publish")
            killed_in[where] = killed_in.get(where, 0) + 1
            integrity = daemon.integrity()
            if integrity != "ok":
                integrity_failures += 1
                problems.append(f"trial {trial}: integrity_check after kill: {integrity}")
            log(f"  trial {trial:2d}: target {target:<9} fraction {fraction:.3f} → killed {delay:6.3f} s after the drop, in {where}; integrity {integrity}")
            daemon.start()
            daemon.wait_ready()
            wait_for(f"trial {trial} runs done", 120, lambda: daemon.finished(len(names)), daemon=daemon)
            resumed_skips = daemon.query("SELECT count(*) FROM stages WHERE state = 'skipped'")[0][0]
            trial_problems = one_run_per_input(daemon, names)
            if trial_problems:
                problems += [f"trial {trial}: {p}" for p in trial_problems]
                break
        daemon.stop()
        watcher.stop()
        integrity = daemon.integrity()
        if integrity != "ok":
            problems.append(f"final integrity_check: {integrity}")
        # Every input's outputs are in the outbox, complete.
        for name in names:
            stem = name[:-4]
            files = os.listdir(os.path.join(outbox, stem)) if os.path.isdir(os.path.join(outbox, stem)) else []
            if not any(f.endswith(".xml") for f in files) or "preview.png" not in files:
                problems.append(f"{stem}: outbox has {files}")
        problems += watcher.violations[:20]
        stale = watcher.stale_temporaries()
        if stale:
            problems.append(f"stale temporaries left in the outbox after the runs: {stale[:5]}")
        numbers = {"trials": trials, "inputs": len(names), "killed_in": killed_in, "outbox_files_checked": watcher.checked,
                   "outbox_polls": watcher.polls, "outbox_violations": len(watcher.violations),
                   "transient_hidden_temporaries_seen": len(watcher.hidden_temporaries), "stale_temporaries": len(stale),
                   "restarts_that_swept_temporaries": daemon.log_text().count("removed temporaries of writes a crash interrupted"),
                   "integrity_failures": integrity_failures, "stages_reused_on_resume": resumed_skips,
                   "attempts_max": daemon.query("SELECT max(attempts) FROM runs")[0][0], "warmup_run_s": round(total, 2),
                   "seed": seed, "image_px": size}
        summary = (f"{trials} kills (seed {seed}) in {', '.join(f'{k} {v}' for k, v in sorted(killed_in.items()))}; "
                   f"{len(names)} inputs → {daemon.run_counts().get('succeeded', 0)} succeeded runs; "
                   f"{watcher.checked} outbox files checked in {watcher.polls} polls, {len(watcher.violations)} violations; "
                   f"integrity ok after {trials - integrity_failures}/{trials} kills")
        return result("kill9", problems, summary, numbers)
    finally:
        if watcher.is_alive():
            watcher.stop()
        daemon.cleanup()


# -- b. disk full ----------------------------------------------------------------------------------

def fill(directory, leave=0):
    """Fills the file system of `directory` with ballast files, then frees `leave` bytes (at most
    1 MiB) by shortening one of them; returns the ballast paths."""
    paths = []
    block = b"\xa5" * (1 << 20)

    def top_up():
        for chunk in (1 << 20, 1 << 16, 1 << 12):
            while True:
                path = os.path.join(directory, f"ballast-{len(paths)}-{chunk}")
                try:
                    with open(path, "wb") as f:
                        f.write(block[:chunk])
                        f.flush()
                        os.fsync(f.fileno())
                    paths.append(path)
                except OSError:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
                    break

    for _ in range(3):
        top_up()
        time.sleep(0.3)  # the daemon may free a little (WAL checkpoint): fill that too
    if leave:
        big = next(p for p in paths if p.endswith(f"-{1 << 20}"))
        os.truncate(big, max(0, (1 << 20) - leave))
    return paths


def wait_for_quiet(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def disk_full(sizes, seed, log):
    if not is_root():
        return result("disk_full", [], "", {}, skipped="needs root (tmpfs mount); skipped")
    size = sizes["image"]
    root = os.path.abspath(os.path.join("/tmp", f"lmdflow-rel-enospc-{os.getpid()}"))
    mount = os.path.join(root, "state")
    os.makedirs(mount, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m,mode=0755", "tmpfs", mount], capture_output=True, text=True)
    if mounted.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        return result("disk_full", [], "", {}, skipped=f"cannot mount a tmpfs ({mounted.stderr.strip()}); skipped")
    daemon = None
    problems = []
    try:
        # The drop folder lives on the same (full) file system, as /var/lib/lmdflow/inbox does.
        daemon = Daemon("diskfull", {"demo": demo_profile()}, root=root, state_dir=os.path.join(mount, "state"),
                        settle=0.2, rescan=3, extra="")
        for folder in list(daemon.folders.values()):
            os.rmdir(folder)
        inbox = os.path.join(mount, "inbox")
        os.makedirs(inbox)
        with open(daemon.config) as f:
            text = f.read().replace(daemon.inbox, inbox)
        with open(daemon.config, "w") as f:
            f.write(text)
        daemon.inbox = inbox
        daemon.staging = os.path.join(mount, "staging")
        os.makedirs(daemon.staging)

        def drop(stem, index):
            daemon.drop_bytes(calibration_json(size), f"{stem}.calibration.json")
            path = sample(os.path.join(root, f"{stem}.tif"), "tiff", seed * 1000 + index, size)
            daemon.drop_file(path, f"{stem}.tif")
            os.unlink(path)

        daemon.start()
        daemon.wait_ready()
        for index in range(2):
            drop(f"before{index}", index)
        wait_for("two runs before the disk fills", 120, lambda: daemon.finished(2), daemon=daemon)
        check(daemon.run_counts().get("succeeded") == 2, f"runs before the disk filled: {daemon.runs()}")
        before = {**{f"outbox/{k}": v for k, v in hash_tree(os.path.join(daemon.state_dir, "outbox")).items()},
                  **{f"runs/{k}": v for k, v in hash_tree(os.path.join(daemon.state_dir, "runs")).items()}}

        outcomes = {}
        for label, leave in (("full", 0), ("nearly-full", 128 << 10)):
            # Stage the input and its sidecar first (they need space), then fill the disk.
            stem = f"during-{label}"
            staged = sample(os.path.join(daemon.staging, f"{stem}.tif"), "tiff", seed * 1000 + 10 + len(outcomes), size)
            with open(os.path.join(daemon.inbox, f"{stem}.calibration.json"), "wb") as f:
                f.write(calibration_json(size))
            ballast = fill(daemon.state_dir, leave=leave)
            free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
            log_mark = len(daemon.log_text())
            os.rename(staged, os.path.join(daemon.inbox, f"{stem}.tif"))

            def run_of():
                runs = [r for r in daemon.runs() if r[1].endswith(f"/{stem}.tif")]
                return runs[-1] if runs else None

            def while_full():
                """What the daemon did with the input while the disk was full, once it did something."""
                run = run_of()
                if run and run[2] in ("failed", "succeeded"):
                    return f"run {run[2]}"
                text = daemon.log_text()[log_mark:]
                if "cannot take input" in text and f"{stem}.tif" in text:
                    return "not taken (catalog full), logged"
                if "cannot record the run's failure in the catalog yet" in text:
                    return "run failed, failure recorded once space returns"
                if "cannot take a run from the catalog" in text:
                    return "queued, not started (catalog full)"
                return None

            try:
                behaviour = wait_for(f"the daemon to act on {stem}.tif with the disk {label}", 60, while_full, interval=0.1, daemon=daemon)
            except Failure as error:
                behaviour = "nothing within the deadline"
                problems.append(f"{label}: {str(error).splitlines()[0]}; runs {daemon.run_counts()}")
            alive_while_full = daemon.alive()
            integrity_while_full = daemon.integrity()
            full_log = daemon.log_text()[log_mark:]
            disk_words = "No space left on device" in full_log or "disk is full" in full_log
            log(f"  {label} (free {free} B): {behaviour}; daemon alive {alive_while_full}; integrity {integrity_while_full}")
            for path in ballast:
                os.unlink(path)
            # Space is back: the input ends in a failed run (clear error, set aside) or, if it was
            # never taken, in a run taken by the next rescan.
            try:
                run = wait_for(f"{stem}.tif to end once space is back", 60,
                               lambda: (lambda r: r if r and r[2] in ("failed", "succeeded") else None)(run_of()), interval=0.1,
                               daemon=daemon)
            except Failure as error:
                run = run_of()
                problems.append(f"{label}: no finished run after space returned: {str(error).splitlines()[0]}")
            state, code, message = (run[2], run[3], run[4] or "") if run else ("no run", None, "")
            error_txt = os.path.join(daemon.state_dir, "failed", f"{stem}.tif.error.txt")
            retried = None
            if state == "failed":
                if not code or not any(w in message for w in ("No space left on device", "ENOSPC", "errno 28", "disk is full")):
                    problems.append(f"{label}: the error does not say the disk is full: {code}: {message}")
                if not wait_for_quiet(lambda: os.path.exists(error_txt), 10):
                    problems.append(f"{label}: no {error_txt}")
                status, out, err = daemon.cli("retry", str(run[0]))
                if status != 0:
                    problems.append(f"lmdflow retry {run[0]}: exit {status}: {err.strip()}")
                else:
                    try:
                        wait_for(f"the retry of run {run[0]}", 120, lambda: (run_of() or (0, 0, ""))[2] == "succeeded", daemon=daemon)
                        retried = "succeeded"
                    except Failure:
                        retried = (run_of() or (0, 0, "?"))[2]
                        problems.append(f"{label}: retry of run {run[0]} ended {retried}")
            elif state == "succeeded" and "not taken" not in behaviour and "queued" not in behaviour:
                problems.append(f"{label}: the run succeeded on a full disk?")
            if not disk_words:
                problems.append(f"{label}: the daemon log does not say the disk is full")
            if not alive_while_full or not daemon.alive():
                problems.append(f"{label}: the daemon died")
                break
            if integrity_while_full != "ok":
                problems.append(f"{label}: integrity_check {integrity_while_full}")
            outcomes[label] = {"free_bytes": free, "while_full": behaviour, "run_state_after_space_returned": state,
                               "error_code": code, "error_message": message[:300], "error_txt": os.path.exists(error_txt),
                               "retry": retried, "daemon_alive": alive_while_full, "integrity_while_full": integrity_while_full}
            log(f"  {label}: after space returned: run {state} ({code}: {message[:140]}); error.txt {os.path.exists(error_txt)}; "
                f"retry {retried}")

        after = {**{f"outbox/{k}": v for k, v in hash_tree(os.path.join(daemon.state_dir, "outbox")).items()},
                 **{f"runs/{k}": v for k, v in hash_tree(os.path.join(daemon.state_dir, "runs")).items()}}
        changed = [k for k, v in before.items() if after.get(k) != v and not k.endswith("run.json")]
        if changed:
            problems.append(f"earlier outputs changed or missing: {changed[:5]}")
        integrity = daemon.integrity()
        if integrity != "ok":
            problems.append(f"integrity_check at the end: {integrity}")
        status = daemon.stop()
        numbers = {"tmpfs": "96m", "outcomes": outcomes, "earlier_files_hashed": len(before),
                   "earlier_files_changed": len(changed), "integrity": integrity, "exit_status": status}
        summary = "; ".join(f"{label} disk ({o['free_bytes']} B free): {o['while_full']} → {o['run_state_after_space_returned']}"
                            + (f" ({o['error_code']}), error.txt {'yes' if o['error_txt'] else 'no'}, retry {o['retry']}"
                               if o['run_state_after_space_returned'] == 'failed' else "")
                            for label, o in outcomes.items())
        summary += f"; {len(before)} earlier output files unchanged: {len(changed) == 0}; integrity {integrity}"
        return result("disk_full", problems, summary, numbers)
    finally:
        if daemon is not None and daemon.proc is not None:
            daemon.kill9()
        subprocess.run(["umount", mount], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# -- c. inotify overflow ----------------------------------------------------------------------------

QUEUE = "/proc/sys/fs/inotify/max_queued_events"


def has_inotify(pid):
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify" for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def inotify_overflow(sizes, seed, log):
    if not is_root() or not os.access(QUEUE, os.W_OK):
        return result("inotify_overflow", [], "", {}, skipped=f"needs root to write {QUEUE}; skipped")
    count = sizes["overflow_files"]
    with open(QUEUE) as f:
        previous = f.read().strip()
    daemon = Daemon("overflow", {"ingest": INGEST}, settle=0.2, rescan=2, extra="concurrency: 2")
    problems = []
    try:
        staged = []
        for index in range(count):
            path = os.path.join(daemon.staging, f"o{index:04d}.tif")
            with open(path, "wb") as f:
                f.write(small_tiff(seed * 100000 + index))
            staged.append(path)
        try:
            with open(QUEUE, "w") as f:
                f.write("16")
            pid = daemon.start()
            # Restore as soon as the daemon's inotify instance exists (other processes starting now
            # would get the tiny queue too).
            wait_for("the daemon's inotify descriptor", 30, lambda: has_inotify(pid), interval=0.002, daemon=daemon)
        finally:
            # The queue size is fixed when the daemon's inotify instance is created: restore at once.
            with open(QUEUE, "w") as f:
                f.write(previous)
        daemon.wait_ready()
        started = time.monotonic()
        for path in staged:
            os.rename(path, os.path.join(daemon.inbox, os.path.basename(path)))
        wait_for(f"{count} runs", 60 + count * 0.2, lambda: daemon.run_counts().get("succeeded", 0) >= count, daemon=daemon)
        elapsed = time.monotonic() - started
        overflows = daemon.log_text().count("inotify queue overflowed")
        problems += one_run_per_input(daemon, [os.path.basename(p) for p in staged])
        if overflows == 0:
            problems.append("the inotify queue never overflowed (the test did not test anything)")
        integrity = daemon.integrity()
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        daemon.stop()
        with open(QUEUE) as f:
            restored = f.read().strip()
        if restored != previous:
            problems.append(f"{QUEUE} is {restored}, was {previous}")
        numbers = {"files": count, "max_queued_events": 16, "overflows_logged": overflows, "seconds_to_all_runs": round(elapsed, 1),
                   "rescan_seconds": 2, "succeeded": daemon.run_counts().get("succeeded", 0), "sysctl_restored_to": restored}
        summary = (f"{count} files renamed in with a 16-event queue: {overflows} overflows logged, "
                   f"{numbers['succeeded']}/{count} succeeded runs in {elapsed:.1f} s; sysctl restored to {restored}")
        return result("inotify_overflow", problems, summary, numbers)
    finally:
        with open(QUEUE) as f:
            if f.read().strip() != previous:
                with open(QUEUE, "w") as g:
                    g.write(previous)
        daemon.cleanup()


# -- d. floods and many folders ----------------------------------------------------------------------

def flood(sizes, seed, log):
    count = sizes["flood_files"]
    problems = []
    numbers = {}
    daemon = Daemon("flood", {"ingest": INGEST}, settle=0.2, extra="concurrency: 2")
    try:
        names = []
        for index in range(count):
            name = f"f{index:04d}.tif"
            with open(os.path.join(daemon.staging, name), "wb") as f:
                f.write(small_tiff(seed * 100000 + index))
            names.append(name)
        daemon.start()
        daemon.wait_ready()
        started = time.monotonic()
        for name in names:
            os.rename(os.path.join(daemon.staging, name), os.path.join(daemon.inbox, name))
        wait_for(f"{count} runs", 60 + count * 0.5, lambda: daemon.finished(count), interval=0.25, daemon=daemon)
        elapsed = time.monotonic() - started
        problems += one_run_per_input(daemon, names)
        integrity = daemon.integrity()
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        archived = len(os.listdir(os.path.join(daemon.state_dir, "archive")))
        if archived != count:
            problems.append(f"{archived} inputs archived, expected {count}")
        daemon.stop()
        numbers.update({"files": count, "succeeded": daemon.run_counts().get("succeeded", 0), "seconds": round(elapsed, 1),
                        "runs_per_second": round(count / elapsed, 1), "archived": archived})
        log(f"  {count} files at once: {numbers['succeeded']} succeeded in {elapsed:.1f} s")
    finally:
        daemon.cleanup()

    folders, per = sizes["folders"], sizes["files_per_folder"]
    profiles, bindings = {}, []
    for index in range(folders):
        # Different stage lists, so a run made by the wrong profile shows.
        stages = ["ingest"] + (["wait"] * (index % 2))
        text = f"description: reliability profile {index}\nstages: [{', '.join(stages)}]\n"
        if index % 2:
            text += "wait:\n  seconds: 0.05\n"
        profiles[f"p{index}"] = text
        bindings.append((f"d{index}", f"p{index}"))
    daemon = Daemon("folders", profiles, folders=bindings, settle=0.2, extra="concurrency: 2")
    try:
        daemon.start()
        daemon.wait_ready()
        started = time.monotonic()
        expected = {}
        for index in range(folders):
            folder = daemon.folders[f"d{index}"]
            for n in range(per):
                name = f"d{index}-{n:03d}.tif"
                daemon.drop_bytes(small_tiff(seed * 100000 + 50000 + index * 1000 + n), name, folder=folder)
                expected[os.path.join(folder, name)] = (f"p{index}", ["ingest"] + (["wait"] * (index % 2)))
        wait_for(f"{len(expected)} runs in {folders} folders", 60 + len(expected) * 0.5, lambda: daemon.finished(len(expected)),
                 interval=0.25, daemon=daemon)
        elapsed = time.monotonic() - started
        wrong = 0
        runs = daemon.runs()
        seen = {}
        for run_id, path, state, code, message, profile, _ in runs:
            seen[path] = seen.get(path, 0) + 1
            want = expected.get(path)
            stages = [r[0] for r in daemon.query("SELECT name FROM stages WHERE run_id = ? ORDER BY ordinal", (run_id,))]
            if want is None or state != "succeeded" or profile != want[0] or stages != want[1]:
                wrong += 1
                if wrong <= 5:
                    problems.append(f"{path}: run {run_id} {state} profile {profile} stages {stages}, expected {want}")
        missing = [p for p in expected if seen.get(p) != 1]
        if missing:
            problems.append(f"{len(missing)} inputs without exactly one run, e.g. {missing[:3]}")
        integrity = daemon.integrity()
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        daemon.stop()
        numbers.update({"folders": folders, "files_per_folder": per, "folder_runs": len(runs), "wrong_profile_or_state": wrong,
                        "folder_seconds": round(elapsed, 1)})
        summary = (f"{count} files at once → {numbers['succeeded']} succeeded runs in {numbers['seconds']} s "
                   f"({numbers['runs_per_second']}/s); {folders} folders × {per} files → {len(runs)} runs, "
                   f"{wrong} with a wrong profile or state")
        return result("flood", problems, summary, numbers)
    finally:
        daemon.cleanup()


# -- e. corrupt, truncated and hostile inputs --------------------------------------------------------

def hostile_inputs(daemon, size, seed, mutants):
    """[(name, bytes, must_fail)]."""
    items = [
        ("zero.tif", b"", True),
        ("zero.nd2", b"", True, "ingest"),  # same bytes as zero.tif: another profile, or it is a duplicate
        ("text.nd2", b"this is not an ND2 file\n" * 40, True),
        ("text.tif", b"II*\x00 hello, not really a TIFF\n" * 10, True),
        ("png-named.tif", png_bytes(64, 64), True),
        ("png-named.nd2", png_bytes(48, 48), True),
        ("huge-strip.tif", tiff_bytes(100000, 100000, pixels=bytes(256), samples=16, strip_bytes_override=0xFFFFFFF0), True),
        ("huge-strips.tif", tiff_bytes(100000, 100000, pixels=bytes(4096), samples=16, strip_rows=1000, strip_bytes_override=64), True),
        ("huge-8bit.tif", tiff_bytes(100000, 100000, pixels=bytes(4096), bits=8, strip_rows=1, strip_count_override=1,
                                     strip_bytes_override=4096), True),
    ]
    nd2 = sample(os.path.join(daemon.staging, "seed.nd2"), "nd2", seed, 64, extra=("--channels", "2"))
    with open(nd2, "rb") as f:
        nd2_bytes = f.read()
    huge, patched = patch_nd2_attributes(nd2_bytes, {"uiWidth": 100000, "uiHeight": 100000, "uiComp": 16,
                                                      "uiWidthBytes": 100000 * 2 * 16, "uiSequenceCount": 1000000})
    if "uiWidth" in patched:
        items.append(("huge-dims.nd2", huge, True))
    # Truncated real files from ../shared/testdata (copied into the temporary drop folder only).
    def small(pattern):
        return [p for p in sorted(glob.glob(os.path.join(SHARED, pattern))) if not p.endswith(".json") and os.path.getsize(p) < 64 << 20]
    shared = small("nd2*/*.nd2")[:4] + small("tiff/*.tif*")[:2]
    for index, path in enumerate(shared):
        with open(path, "rb") as f:
            data = f.read()
        base = os.path.basename(path)
        stem, ext = os.path.splitext(base)
        ext = ".tiff" if base.endswith(".ome.tiff") else ext
        items.append((f"trunc-half-{stem.replace('.', '-')}{ext}", data[: len(data) // 2], True))
        # Generated ND2s share their first kilobytes: cut each at another length (else duplicates).
        items.append((f"trunc-head-{stem.replace('.', '-')}{ext}", data[:1000 + 97 * index], True))
    if not shared:
        tif = sample(os.path.join(daemon.staging, "seed.tif"), "tiff", seed, size)
        with open(tif, "rb") as f:
            data = f.read()
        items += [("trunc-half-sample.tif", data[: len(data) // 2], True), ("trunc-half-sample.nd2", nd2_bytes[: len(nd2_bytes) // 2], True)]
    # Seeded mutants of small valid files: any outcome, but each must end and name the file when it fails.
    rng = random.Random(seed)
    tif = sample(os.path.join(daemon.staging, "mut.tif"), "tiff", seed + 1, 192)
    with open(tif, "rb") as f:
        tif_bytes = f.read()
    with open(sample(os.path.join(daemon.staging, "mut.nd2"), "nd2", seed + 2, 192, extra=("--channels", "2")), "rb") as f:
        nd2_bytes = f.read()
    for index in range(mutants):
        base = bytearray(nd2_bytes if index % 2 else tif_bytes)
        for _ in range(rng.randint(1, 12)):
            position = rng.randrange(len(base))
            if rng.random() < 0.6:
                base[position] = rng.randrange(256)
            else:
                width = rng.choice((2, 4, 8))
                base[position:position + width] = rng.choice((b"\xff", b"\x00", b"\x7f")) * width
        if rng.random() < 0.2:
            base = base[: rng.randrange(8, len(base))]
        items.append((f"mutant-{index:03d}{'.nd2' if index % 2 else '.tif'}", bytes(base), False))
    return items


def hostile(sizes, seed, log):
    size = sizes["image"]
    daemon = Daemon("hostile", {"demo": demo_profile(), "ingest": INGEST}, folders=[("inbox", "demo"), ("ingest", "ingest")],
                    settle=0.2)
    problems = []
    samples = []
    try:
        daemon.start()
        daemon.wait_ready()
        pid = daemon.proc.pid
        items = hostile_inputs(daemon, size, seed, sizes["mutants"])
        for name, data, _, *folder in items:
            daemon.drop_bytes(data, name, folder=daemon.folders[folder[0]] if folder else None)
        expected = len(items)

        def progress():
            if daemon.alive():
                samples.append(daemon.memory())
            return daemon.finished(expected)

        wait_for(f"{expected} hostile runs", 60 + expected * 3, progress, interval=0.2, daemon=daemon)
        # The daemon keeps going: a good file afterwards succeeds.
        daemon.drop_bytes(calibration_json(size), "good-after.calibration.json")
        good = sample(os.path.join(daemon.staging, "good-after.tif"), "tiff", seed + 7, size)
        daemon.drop_file(good, "good-after.tif")
        wait_for("the good file after the hostile ones", 120, lambda: progress() and daemon.finished(expected + 1), daemon=daemon)
        runs = {os.path.basename(r[1]): r for r in daemon.runs()}
        failed_dir = os.path.join(daemon.state_dir, "failed")
        outcomes = {"failed": 0, "succeeded": 0}
        codes = {}
        for name, _, must_fail, *_ in items:
            run = runs.get(name)
            if run is None:
                problems.append(f"{name}: no run")
                continue
            _, _, state, code, message, _, _ = run
            outcomes[state] = outcomes.get(state, 0) + 1
            if state == "failed":
                codes[code] = codes.get(code, 0) + 1
                # Hostile inputs fail reading the file: the message names it. A mutant may get
                # further (e.g. no cells to extract): its error.txt names the input.
                if not code or not message or (must_fail and name not in message):
                    problems.append(f"{name}: error does not name the file: {code}: {message}")
                error_txt = os.path.join(failed_dir, name + ".error.txt")
                if not os.path.exists(error_txt):
                    problems.append(f"{name}: no failed/{name}.error.txt")
                else:
                    with open(error_txt, encoding="utf-8", errors="replace") as f:
                        text = f.read()
                    if name not in text or f"code:    {code}" not in text:
                        problems.append(f"{name}: error.txt does not name the input and code: {text[:200]}")
            elif must_fail:
                problems.append(f"{name}: ended {state}, expected failed")
        if runs.get("good-after.tif", (0, 0, ""))[2] != "succeeded":
            problems.append(f"good file after the hostile ones: {runs.get('good-after.tif')}")
        if daemon.proc is None or daemon.proc.pid != pid or not daemon.alive():
            problems.append("the daemon restarted or died")
        rss, hwm = daemon.memory()
        bound = sizes["memory_bound_mib"] * 1024
        if hwm > bound:
            problems.append(f"peak memory VmHWM {hwm // 1024} MiB above the bound {bound // 1024} MiB")
        integrity = daemon.integrity()
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        daemon.stop()
        numbers = {"inputs": expected, "must_fail": sum(1 for i in items if i[2]), "mutants": sizes["mutants"], "outcomes": outcomes,
                   "error_codes": codes, "vm_hwm_mib": round(hwm / 1024, 1), "vm_rss_end_mib": round(rss / 1024, 1),
                   "max_sampled_rss_mib": round(max(s[0] for s in samples) / 1024, 1) if samples else None,
                   "bound_mib": sizes["memory_bound_mib"], "good_file_after": runs.get("good-after.tif", (0, 0, ""))[2]}
        summary = (f"{expected} bad inputs ({numbers['must_fail']} hostile + {sizes['mutants']} seeded mutants) → "
                   f"{outcomes.get('failed', 0)} failed, {outcomes.get('succeeded', 0)} succeeded (mutants only); codes "
                   f"{', '.join(f'{k} {v}' for k, v in sorted(codes.items(), key=lambda kv: str(kv[0])))}; same daemon pid throughout; "
                   f"good file afterwards {numbers['good_file_after']}; VmHWM {numbers['vm_hwm_mib']} MiB (bound {bound // 1024} MiB)")
        return result("hostile", problems, summary, numbers)
    finally:
        daemon.cleanup()


# -- f. symlinks and path tricks ---------------------------------------------------------------------

def label_mask(size):
    """A 16-bit label image with four square cells."""
    pixels = bytearray(size * size * 2)
    for label, (r0, c0) in enumerate(((8, 8), (8, size // 2), (size // 2, 8), (size // 2, size // 2)), start=1):
        for r in range(r0, r0 + size // 4):
            for c in range(c0, c0 + size // 4):
                pixels[(r * size + c) * 2:(r * size + c) * 2 + 2] = label.to_bytes(2, "little")
    return tiff_bytes(size, size, bytes(pixels))


LINK_WORDS = ("symlink", "symbolic link", "regular file")


def path_tricks(sizes, seed, log):
    size = sizes["image"]
    profiles = {"demo": demo_profile(), "cutmask": "description: cut a sidecar mask\nstages: [ingest, cut]\n", "ingest": INGEST}
    daemon = Daemon("paths", profiles, folders=[("demo", "demo"), ("cutmask", "cutmask"), ("names", "ingest")], settle=0.2)
    problems, checks = [], []
    outside = os.path.join(daemon.root, "outside")
    os.makedirs(os.path.join(outside, "dir"))
    try:
        demo, cutmask, names_folder = daemon.folders["demo"], daemon.folders["cutmask"], daemon.folders["names"]
        # Files outside the drop folders that must stay untouched and unread.
        out_tif = sample(os.path.join(outside, "real.tif"), "tiff", seed + 1, size)
        sample(os.path.join(outside, "dir", "inner.tif"), "tiff", seed + 2, size)
        with open(os.path.join(outside, "ids.csv"), "w") as f:
            f.write("1\n2\n3\n")
        with open(os.path.join(outside, "sets.yml"), "w") as f:
            f.write("cell_sets:\n  - name: outside\n    well: A1\n    classes: all\n")
        with open(os.path.join(outside, "calibration.json"), "wb") as f:
            f.write(calibration_json(size))
        with open(os.path.join(outside, "mask.tif"), "wb") as f:
            f.write(label_mask(size))
        outside_before = hash_tree(outside)
        passwd_before = os.stat("/etc/passwd")

        # Symlinks as inputs and directories.
        os.symlink("/etc/passwd", os.path.join(demo, "link-passwd.tif"))
        os.symlink(out_tif, os.path.join(demo, "link-out.tif"))
        os.symlink(os.path.join(outside, "dir"), os.path.join(demo, "linkdir"))
        os.symlink(os.path.join(outside, "dir"), os.path.join(demo, "dirlink.tif"))
        refused_inputs = ["link-passwd.tif", "link-out.tif", "dirlink.tif"]

        # Sidecars that reach outside. Each input also gets a valid calibration unless the trick is the calibration.
        def good_input(stem, folder=demo, calibration=True):
            if calibration:
                daemon.drop_bytes(calibration_json(size), f"{stem}.calibration.json", folder=folder)
            return stem

        tricks = {}  # input name -> (folder, expectation text, words the error must contain)
        stem = good_input("sel-abs")
        with open(os.path.join(demo, f"{stem}.select.yml"), "w") as f:
            f.write("cell_sets:\n  - name: x\n    well: A1\n    ids_csv: /etc/passwd\n")
        tricks[f"{stem}.tif"] = (demo, "select.yml ids_csv: /etc/passwd refused", "absolute")
        stem = good_input("sel-dotdot")
        with open(os.path.join(demo, f"{stem}.select.yml"), "w") as f:
            f.write("cell_sets:\n  - name: x\n    well: A1\n    ids_csv: ../../outside/ids.csv\n")
        tricks[f"{stem}.tif"] = (demo, "select.yml ids_csv with .. refused", "..")
        stem = good_input("sel-link")
        os.symlink(os.path.join(outside, "ids.csv"), os.path.join(demo, "ids-link.csv"))
        with open(os.path.join(demo, f"{stem}.select.yml"), "w") as f:
            f.write("cell_sets:\n  - name: x\n    well: A1\n    ids_csv: ids-link.csv\n")
        tricks[f"{stem}.tif"] = (demo, "select.yml ids_csv symlinked out refused", LINK_WORDS)
        stem = good_input("sel-symlinked")
        os.symlink(os.path.join(outside, "sets.yml"), os.path.join(demo, f"{stem}.select.yml"))
        tricks[f"{stem}.tif"] = (demo, "a select.yml that is a symlink refused", LINK_WORDS)
        stem = good_input("cal-link", calibration=False)
        os.symlink(os.path.join(outside, "calibration.json"), os.path.join(demo, f"{stem}.calibration.json"))
        tricks[f"{stem}.tif"] = (demo, "a calibration.json that is a symlink out refused", LINK_WORDS)
        stem = good_input("cal-passwd", calibration=False)
        os.symlink("/etc/passwd", os.path.join(demo, f"{stem}.calibration.json"))
        tricks[f"{stem}.tif"] = (demo, "a calibration.json symlinked to /etc/passwd refused", LINK_WORDS)
        stem = good_input("mask-link", folder=cutmask)
        os.symlink(os.path.join(outside, "mask.tif"), os.path.join(cutmask, f"{stem}.mask.tif"))
        tricks[f"{stem}.tif"] = (cutmask, "a mask.tif that is a symlink out refused", LINK_WORDS)
        # Controls: the same sidecars as regular files work.
        stem = good_input("mask-regular", folder=cutmask)
        with open(os.path.join(cutmask, f"{stem}.mask.tif"), "wb") as f:
            f.write(label_mask(size))
        controls = {f"{stem}.tif": cutmask}
        stem = good_input("sel-regular")
        with open(os.path.join(demo, "ids.csv"), "w") as f:
            f.write("1\n2\n3\n")
        with open(os.path.join(demo, f"{stem}.select.yml"), "w") as f:
            f.write("cell_sets:\n  - name: x\n    well: A1\n    ids_csv: ids.csv\n")
        controls[f"{stem}.tif"] = demo

        # Odd but legal names: processed normally and archived under their own name.
        odd = ["name with spaces.tif", "-rf.tif", "ünïcødé-名前.tif", "line\nbreak.tif", "x" * 200 + ".tif", "dots..tif"]
        daemon.start()
        daemon.wait_ready()
        for index, name in enumerate(list(tricks) + list(controls)):
            folder = tricks.get(name, (controls.get(name),))[0]
            source = sample(os.path.join(daemon.staging, f"in{index}.tif"), "tiff", seed * 100 + index, size)
            daemon.drop_file(source, name, folder=folder)
        for index, name in enumerate(odd):
            daemon.drop_bytes(small_tiff(seed * 1000 + index), name, folder=names_folder)
        expected = len(tricks) + len(controls) + len(odd)
        wait_for(f"{expected} runs", 60 + expected * 5, lambda: daemon.finished(expected), interval=0.2, daemon=daemon)
        time.sleep(1.5)  # a rescan's worth, for refusals
        runs = {r[1]: r for r in daemon.runs()}
        for name, (folder, what, words) in tricks.items():
            run = runs.get(os.path.join(folder, name))
            state, code, message = (run[2], run[3], run[4] or "") if run else ("no run", None, "")
            # Refused for the right reason: failing later (e.g. /etc/passwd is not JSON) means it was read.
            words = (words,) if isinstance(words, str) else words
            ok = state == "failed" and any(w.lower() in message.lower() for w in words)
            checks.append({"case": what, "input": name, "state": state, "code": code, "message": message[:200], "ok": ok})
            if not ok:
                problems.append(f"{what}: run {state} ({code}: {message[:160]})")
            if "root:x:0:0" in message:
                problems.append(f"{name}: the error message quotes /etc/passwd")
        for name, folder in controls.items():
            run = runs.get(os.path.join(folder, name))
            ok = run is not None and run[2] == "succeeded"
            checks.append({"case": "control (regular sidecar)", "input": name, "state": run[2] if run else "no run", "ok": ok})
            if not ok:
                problems.append(f"control {name}: {run}")
        for name in odd:
            run = runs.get(os.path.join(names_folder, name))
            archived = run is not None and run[6] == os.path.join(daemon.state_dir, "archive", name)
            ok = run is not None and run[2] == "succeeded" and archived
            checks.append({"case": "odd name", "input": repr(name), "state": run[2] if run else "no run", "ok": ok})
            if not ok:
                problems.append(f"odd name {name!r}: {run}")
        refused = {os.path.basename(p) for _, p, _ in daemon.events("input_refused") if p}
        for name in refused_inputs:
            path = os.path.join(demo, name)
            ok = name in refused and path not in runs and os.path.islink(path)
            checks.append({"case": "symlink input refused, logged, left in place", "input": name, "ok": ok})
            if not ok:
                problems.append(f"{name}: refused event {name in refused}, run {path in runs}, still a link {os.path.islink(path)}")
        logged = daemon.log_text().count("symbolic link in drop folder refused")
        if logged < len(refused_inputs) - 1:  # dirlink.tif may be reported as "not a regular file" instead
            problems.append(f"only {logged} refusals in the daemon log")
        linkdir_runs = [p for p in runs if "/linkdir/" in p or p.startswith(outside)]
        if linkdir_runs:
            problems.append(f"runs for files outside the drop folders: {linkdir_runs}")
        outside_after = hash_tree(outside)
        if outside_after != outside_before:
            problems.append(f"files outside the drop folders changed: {sorted(set(outside_before.items()) ^ set(outside_after.items()))[:4]}")
        passwd_after = os.stat("/etc/passwd")
        if (passwd_after.st_size, passwd_after.st_mtime_ns, passwd_after.st_ino) != (passwd_before.st_size, passwd_before.st_mtime_ns, passwd_before.st_ino):
            problems.append("/etc/passwd changed")
        integrity = daemon.integrity()
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        daemon.stop()
        passed = sum(1 for c in checks if c["ok"])
        numbers = {"checks": checks, "refusals_logged": logged, "outside_files_unchanged": outside_after == outside_before}
        summary = (f"{passed}/{len(checks)} path checks hold; {logged} symlink refusals logged; outside files unchanged: "
                   f"{outside_after == outside_before}; failing: " + (", ".join(c["input"] for c in checks if not c["ok"]) or "none"))
        return result("path_tricks", problems, summary, numbers)
    finally:
        daemon.cleanup()


# -- g. memory over many runs -------------------------------------------------------------------------

def memory(sizes, seed, log):
    count, batch = sizes["memory_runs"], 50
    profile = sizes["memory_profile"]
    profiles = {"ingest": INGEST} if profile == "ingest" else {"demo": demo_profile()}
    daemon = Daemon("memory", profiles, settle=0.1, extra="concurrency: 2")
    problems = []
    series = []
    try:
        daemon.start()
        daemon.wait_ready()
        template = None
        if profile != "ingest":
            template = sample(os.path.join(daemon.root, "template.tif"), "tiff", seed, sizes["memory_image"])
        done = 0
        started = time.monotonic()
        while done < count:
            n = min(batch, count - done)
            for index in range(done, done + n):
                name = f"m{index:05d}.tif"
                if template:
                    # Same image, distinct bytes (a changed description) so it is not a duplicate.
                    with open(template, "rb") as f:
                        data = f.read()
                    data = data + f"{index:08d}".encode()
                    daemon.drop_bytes(calibration_json(sizes["memory_image"]), f"m{index:05d}.calibration.json")
                else:
                    data = small_tiff(seed * 100000 + index, 64)
                daemon.drop_bytes(data, name)
            done += n
            wait_for(f"{done} runs", 60 + n * 5, lambda: daemon.finished(done), interval=0.1, daemon=daemon)
            rss, hwm = daemon.memory()
            series.append((done, rss))
        elapsed = time.monotonic() - started
        warm_index = max(0, len(series) // 10)  # after the first tenth of the runs
        warm = series[warm_index][1]
        final = series[-1][1]
        growth = (final - warm) / warm * 100
        succeeded = daemon.run_counts().get("succeeded", 0)
        if succeeded != count:
            problems.append(f"{succeeded}/{count} runs succeeded: {daemon.run_counts()}")
        if growth >= 10 and sizes.get("memory_growth_check", True):
            problems.append(f"RSS grew {growth:.1f}% from {warm // 1024} MiB after {series[warm_index][0]} runs to {final // 1024} MiB")
        _, hwm = daemon.memory()
        daemon.stop()
        numbers = {"runs": count, "profile": profile, "seconds": round(elapsed, 1), "warm_after_runs": series[warm_index][0],
                   "rss_warm_mib": round(warm / 1024, 1), "rss_end_mib": round(final / 1024, 1), "growth_percent": round(growth, 1),
                   "vm_hwm_mib": round(hwm / 1024, 1), "series_mib": [(n, round(r / 1024, 1)) for n, r in series]}
        summary = (f"{count} runs ({profile} profile) in {elapsed:.0f} s: RSS {warm / 1024:.1f} MiB after {series[warm_index][0]} runs → "
                   f"{final / 1024:.1f} MiB at the end ({growth:+.1f}%, limit +10%); VmHWM {hwm / 1024:.1f} MiB")
        return result("memory", problems, summary, numbers)
    finally:
        daemon.cleanup()


SCENARIOS = {
    "kill9": kill9,
    "disk_full": disk_full,
    "inotify_overflow": inotify_overflow,
    "flood": flood,
    "hostile": hostile,
    "path_tricks": path_tricks,
    "memory": memory,
}
