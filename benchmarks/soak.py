"""Soak: 60 s at 80% of measured capacity on GET /api/v1/experiences and on identify.

    apt-get install -y wrk
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_serve_bench \\
        .venv/bin/python benchmarks/soak.py [--reuse] [--seconds 60] [--load 0.8]

The data, settings and gunicorn are benchmarks/serve.py's (one sync worker per core, the
deployment's gunicorn.conf.py; the benchmark settings put the API's rate limits out of reach,
see docs/deploy.md for what the defaults would do). For each target it measures capacity
(wrk unthrottled, --capacity-seconds), then drives --load of it for --seconds and prints the
requests per second achieved, errors (non-2xx responses and socket errors) and p50 / p99. It
exits non-zero when a target had an error or fell short of 95% of its rate.

The rate: Debian's wrk has no -R (wrk2's constant throughput mode), so the script's ``delay()``
paces requests on one schedule shared by every connection of wrk's thread: each request takes
the next slot 1/rate after the previous one (LuaJIT's ffi reads CLOCK_MONOTONIC), and waits
for it. wrk stays in C, costing the two shared cores what it costs serve.py (a Python load
generator at ~2,000 req/s would take a core of its own). Latency is measured from each
request's actual send, so a stall that delays sends is not charged to the requests it delayed
(wrk2's coordinated-omission correction is not available): p99 is a lower bound under a stall,
and the achieved rate shows whether the schedule was kept.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.serve import drive, gunicorn, prepare, targets

# Prepended to a target's script: pacing on one schedule for every connection of the thread.
PACING = """
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } callout_timespec;
  int clock_gettime(int clk_id, callout_timespec *tp);
]]
local clock = ffi.new("callout_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local interval = 1000 / %(rate)f
local next_slot = nil
delay = function()
  local now = now_ms()
  if next_slot == nil or next_slot < now - 1000 then
    next_slot = now  -- start, or a second behind: do not burst to catch up
  end
  local wait = next_slot - now
  next_slot = next_slot + interval
  if wait < 0 then return 0 end
  return math.floor(wait + 0.5)
end
"""

# Enough connections that pacing, not latency, sets the rate (a connection waits for its slot).
CONNECTIONS = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--capacity-seconds", type=int, default=10)
    parser.add_argument("--load", type=float, default=0.8, help="fraction of capacity")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reuse", action="store_true", help="keep the data of a previous run")
    args = parser.parse_args()
    env, key = prepare(args.users, args.reuse)
    results = {}
    with gunicorn(env, args.workers) as base:
        chosen = targets(args.users, key)
        for name in ("experiences", "identify"):
            path, script = chosen[name]
            drive(base, path, script, 2, 10)  # warm every worker's caches
            capacity = drive(base, path, script, args.capacity_seconds, 10)
            rate = capacity["rps"] * args.load
            print(
                f"{name}: capacity {capacity['rps']:.0f} req/s (wrk -c10, "
                f"{args.capacity_seconds} s); driving {rate:.0f} req/s for {args.seconds} s",
                flush=True,
            )
            paced = PACING % {"rate": rate} + script
            soak = drive(base, path, paced, args.seconds, CONNECTIONS)
            results[name] = (capacity, rate, soak)

    print(
        f"gunicorn {args.workers} sync workers, {os.cpu_count()} cores; "
        f"{args.load:.0%} of capacity for {args.seconds} s, wrk -t1 -c{CONNECTIONS} paced"
    )
    header = ("target", "capacity", "asked", "achieved", "requests", "errors", "p50 ms", "p99 ms")
    print("{:<12} {:>9} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7}".format(*header))
    failed = False
    for name, (capacity, rate, soak) in results.items():
        errors = soak["non2xx"] + soak["socket_errors"]
        print(
            f"{name:<12} {capacity['rps']:>9.0f} {rate:>7.0f} {soak['rps']:>9.0f} "
            f"{soak['requests']:>9} {errors:>7} {soak['p50']:>7.2f} {soak['p99']:>7.2f}"
        )
        failed |= errors > 0 or soak["rps"] < 0.95 * rate
    if failed:
        raise SystemExit("soak: errors, or a rate not kept")


if __name__ == "__main__":
    main()
