"""Start-up: what a runner spends before its first POST, and what the libraries alone cost.

    python bench/startup.py                      # 7 rounds
    python bench/startup.py --runs 9 --against /tmp/old   # git archive REV jogg_flow schemas
    python bench/startup.py --wave 20            # and 20 interpreters started at once

`first POST`: a real `jogg-flow apply` of one product, with a state of its own in a
PostgreSQL database the runs share (a throwaway server, or `--dsn`), against a loopback
server that, when the first POST arrives, reads the client's CPU time (user + system,
/proc/PID/stat) and ends it: the imports, the manifest, the lease, the state, the plan and
the budget's slot, in a fresh process. `libraries`: a fresh interpreter importing only what
that path cannot do without (psycopg, requests, yaml, click, concurrent.futures). `python`:
an empty interpreter. Paired medians of interleaved rounds with their spread (max - min), as
`bench/paired.py` takes them; `--against DIR` runs another tree's apply in the same rounds.

`--wave N` starts N fresh interpreters importing the libraries at once and reports when the
first and the last finished (median of 5 waves): on a machine of C cores, N runners started
together cannot POST before about N x libraries / C seconds, whatever jogg-flow does.
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.campaigns import KEY, write_manifest  # noqa: E402
from bench.paired import child_env  # noqa: E402
from jogg_flow.sandbox import Sandbox  # noqa: E402

LIBRARIES = "import psycopg, requests, yaml, click, concurrent.futures"
QUIT = "; import os; os._exit(0)"  # no teardown: the first POST's reading has none either
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_of(pid: int) -> float:
    """Seconds of CPU (user + system) process `pid` has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class FirstPost:
    """A loopback server in front of the sandbox at `upstream`: it passes the client's GETs
    on, notes the client's CPU when its first POST arrives and answers that POST 503."""

    def __init__(self, upstream: str) -> None:
        self.pid = 0
        self.cpu: float | None = None
        self.seen = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                if not outer.seen.is_set() and outer.pid:
                    outer.cpu = cpu_of(outer.pid)
                    outer.seen.set()
                self.send_error(503)

            def do_GET(self) -> None:  # noqa: N802
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(upstream + self.path, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, body, kind = answer.status, answer.read(), answer.headers["Content-Type"]
                except urllib.error.HTTPError as err:
                    status, body, kind = err.code, err.read(), err.headers["Content-Type"]
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def measure(self, argv: list[str], env: dict[str, str]) -> float:
        """CPU seconds the process `argv` used before its first POST arrived."""
        self.seen.clear()
        self.cpu, self.pid = None, 0
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.pid = proc.pid
        got = self.seen.wait(60)
        proc.kill()
        _, err = proc.communicate()
        if not got or self.cpu is None:
            raise RuntimeError(f"no POST came: {err.decode(errors='replace')[-500:]}")
        return self.cpu


def fresh_cpu(argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds of a fresh process running `argv` to its end."""
    proc = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{argv} exited {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def wave(n: int, env: dict[str, str]) -> tuple[float, float]:
    """Start n interpreters importing the libraries at once: when the first and the last ended."""
    t0 = time.monotonic()
    procs = {subprocess.Popen([sys.executable, "-c", LIBRARIES], env=env).pid for _ in range(n)}
    first = 0.0
    while procs:
        pid, _ = os.wait()
        procs.discard(pid)
        first = first or time.monotonic() - t0
    return first, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--against", help="a directory holding another tree's jogg_flow (before/after)")
    ap.add_argument("--dsn", help="a PostgreSQL database (default: start a throwaway server)")
    ap.add_argument("--wave", type=int, default=0, help="also start this many interpreters at once")
    args = ap.parse_args()
    server = None
    if not args.dsn:
        from bench.pgserver import Postgres

        server = Postgres()
    tmp = tempfile.TemporaryDirectory()
    sandbox = Sandbox().start()
    try:
        env = child_env(tmp.name, JOGG_API_KEY=KEY)
        probe = FirstPost(sandbox.url)
        dsn = args.dsn or (server.fresh_db() if server else "")
        runs = iter(range(10**6))
        here = [sys.executable, "-m", "jogg_flow"]
        other = [sys.executable, "-c", "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
                 "runpy.run_module('jogg_flow', run_name='__main__')", args.against or ""]

        def apply(cli: list[str]) -> float:
            # A state of its own in a database that has the schema: a runner joining the others.
            manifest = write_manifest(tmp.name, 1, "open", name=f"startup{next(runs)}")
            return probe.measure([*cli, "apply", manifest, "--api-base", probe.url, "--state", dsn,
                                  "--post-rate", "20/60s"], env)

        cmds = {"python": lambda: fresh_cpu([sys.executable, "-c", "pass" + QUIT], env),
                "libraries": lambda: fresh_cpu([sys.executable, "-c", LIBRARIES + QUIT], env),
                "first POST": lambda: apply(here)}
        if args.against:
            cmds["first POST (against)"] = lambda: apply(other)
        names = list(cmds)
        for name in names:  # warm-up: bytecode written, files cached
            cmds[name]()
        rounds = []
        for i in range(args.runs):
            order = names[i % len(names):] + names[:i % len(names)]
            rounds.append({name: cmds[name]() for name in (reversed(order) if i % 2 else order)})
        print(f"{'':22} {'CPU ms':>7}  {'x libraries':>16}")
        for name in names:
            ratios = sorted(r[name] / r["libraries"] for r in rounds)
            cpu = statistics.median(r[name] for r in rounds) * 1000
            print(f"{name:22} {cpu:7.0f}  {statistics.median(ratios):6.2f}x ({ratios[-1] - ratios[0]:4.2f})")
        if args.against:
            ratios = sorted(r["first POST"] / r["first POST (against)"] for r in rounds)
            print(f"first POST against the other tree: {statistics.median(ratios):.2f}x "
                  f"({ratios[-1] - ratios[0]:.2f}) in the same rounds")
        own = statistics.median(r["first POST"] - r["libraries"] for r in rounds) * 1000
        print(f"jogg-flow's own share before the first POST: {own:.0f} ms (first POST - libraries, median)")
        if args.wave:
            waves = [wave(args.wave, env) for _ in range(5)]
            print(f"{args.wave} interpreters importing the libraries at once on {os.cpu_count()} cores: "
                  f"first done {statistics.median(w[0] for w in waves):.2f} s, "
                  f"last {statistics.median(w[1] for w in waves):.2f} s (median of 5 waves)")
    finally:
        sandbox.stop()
        tmp.cleanup()
        if server:
            server.close()


if __name__ == "__main__":
    main()
