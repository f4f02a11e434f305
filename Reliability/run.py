#!/usr/bin/env python3
"""lmdflow reliability suite: drives the real daemon binary ($LMDFLOW_BIN) through crashes, a full
disk, inotify overflow, floods, hostile inputs, path tricks and a long memory run.

    LMDFLOW_BIN=.build/release/lmdflow python3 Reliability/run.py --full [--out results.json]
    LMDFLOW_BIN=... python3 Reliability/run.py --quick --only kill9,hostile [--seed 7]

Prints one PASS/FAIL/SKIP line per scenario with its numbers; exits 1 if any scenario fails.
Scenarios that need root (tmpfs, the inotify sysctl) are skipped with a message otherwise.
Python standard library only. See docs/RELIABILITY.md.
"""

import argparse
import json
import os
import platform
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Failure  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

SIZES = {
    "full": {"kill_trials": 50, "image": 1024, "overflow_files": 500, "flood_files": 1000, "folders": 10,
             "files_per_folder": 20, "mutants": 40, "memory_runs": 1000, "memory_profile": "demo", "memory_image": 256,
             "memory_bound_mib": 1024},
    "quick": {"kill_trials": 4, "image": 192, "overflow_files": 120, "flood_files": 150, "folders": 10,
              "files_per_folder": 2, "mutants": 6, "memory_runs": 150, "memory_profile": "ingest", "memory_image": 128,
              "memory_bound_mib": 1024},
}


def main():
    # SIGTERM (a CI timeout) unwinds like an exception, so daemons are killed, the tmpfs is
    # unmounted and the inotify sysctl restored by the scenarios' finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the sizes of docs/RELIABILITY.md (default)")
    mode.add_argument("--quick", action="store_true", help="reduced sizes (CI)")
    parser.add_argument("--only", help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time-based, printed)")
    parser.add_argument("--out", help="write the results as JSON to this file")
    parser.add_argument("--memory-growth-check", choices=("on", "off"), default=None,
                        help="fail the memory scenario on >10%% RSS growth (default: on for --full, off for --quick, "
                             "whose few runs are still warm-up)")
    args = parser.parse_args()

    if not harness.BIN or not os.access(harness.BIN, os.X_OK):
        print(f"LMDFLOW_BIN is not an executable lmdflow binary: {harness.BIN!r}", file=sys.stderr)
        return 2
    size_name = "quick" if args.quick else "full"
    sizes = dict(SIZES[size_name])
    growth = args.memory_growth_check or ("on" if size_name == "full" else "off")
    sizes["memory_growth_check"] = growth == "on"
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    chosen = list(SCENARIOS) if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)} (known: {', '.join(SCENARIOS)})", file=sys.stderr)
        return 2

    print(f"lmdflow reliability suite ({size_name}), seed {seed}, binary {harness.BIN}", flush=True)
    print(f"reproduce: LMDFLOW_BIN={harness.BIN} python3 Reliability/run.py --{size_name} --seed {seed}"
          + (f" --only {','.join(chosen)}" if args.only else ""), flush=True)
    results = []
    for name in chosen:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        try:
            outcome = SCENARIOS[name](sizes, seed, lambda line: print(line, flush=True))
        except Failure as error:
            outcome = {"scenario": name, "status": "FAIL", "summary": str(error).splitlines()[0], "numbers": {},
                       "problems": [str(error)]}
        except Exception as error:  # a bug in the suite or an unexpected daemon state: report, go on
            outcome = {"scenario": name, "status": "FAIL", "summary": f"{type(error).__name__}: {error}", "numbers": {},
                       "problems": [traceback.format_exc()]}
        outcome["seconds"] = round(time.monotonic() - started, 1)
        results.append(outcome)
        print(f"{outcome['status']} {name} ({outcome['seconds']} s): {outcome['summary']}", flush=True)
        for problem in outcome["problems"][:10]:
            print(f"    - {problem}", flush=True)

    failed = [r["scenario"] for r in results if r["status"] == "FAIL"]
    report = {
        "mode": size_name, "seed": seed, "binary": harness.BIN, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "root": os.geteuid() == 0},
        "sizes": sizes, "results": results, "failed": failed,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2, ensure_ascii=False)
    print(f"== {len(results) - len(failed)}/{len(results)} scenarios passed or skipped"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
