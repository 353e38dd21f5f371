"""Benchmark: the Monitor's host checks, concurrent against one after another.

N hosts (default 10) that never answer, each with the same timeout (default
1 s), all on loopback: a listener whose accept queue is full drops new
connection attempts, so a connect waits for its whole timeout. The baseline is
the same probes run one after another in the same run; the figure is the
ratio. A second figure does the same for N hosts that answer at once.

    .venv/bin/python bench/monitor_hosts.py [--hosts 10] [--timeout 1]
"""

import argparse
import contextlib
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlframework.settings")


def full_listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    return server, fillers, port


def main() -> None:
    import django

    django.setup()
    from monitor import probes

    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args()

    server, fillers, dead_port = full_listener()
    live = socket.socket()
    live.bind(("127.0.0.1", 0))
    live.listen(128)
    live_port = live.getsockname()[1]

    def timed(port, concurrent):
        jobs = [(f"h{i}", "127.0.0.1", port, args.timeout) for i in range(args.hosts)]
        started = time.perf_counter()
        if concurrent:
            # What probes.run_all does: one thread per probe.
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                results = list(pool.map(lambda j: probes.probe_host(*j), jobs))
        else:
            results = [probes.probe_host(*job) for job in jobs]
        return time.perf_counter() - started, {r.status for r in results}

    print(f"{args.hosts} hosts, timeout {args.timeout:g} s, all on 127.0.0.1")
    for label, port in (("unreachable", dead_port), ("answering", live_port)):
        sequential, statuses_a = timed(port, concurrent=False)
        concurrent, statuses_b = timed(port, concurrent=True)
        print(
            f"{label:<12} one after another {sequential:8.3f} s  concurrent "
            f"{concurrent:8.3f} s  ratio {sequential / concurrent:6.1f}x  "
            f"(statuses {sorted(statuses_a | statuses_b)})"
        )
        if label == "unreachable":
            print(
                f"{'':<12} concurrent / one timeout = {concurrent / args.timeout:.2f}"
            )
    for filler in fillers:
        filler.close()
    server.close()
    live.close()


if __name__ == "__main__":
    main()
