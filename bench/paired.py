"""Paired medians of interleaved fresh processes: the one way the benches compare commands.

Each command runs in a fresh process started from a small wrapper interpreter (a child
forked from a bench that holds a big state would count the bench's pages in its own peak
RSS); the wrapper reports the child's CPU time (user + system), wall time and peak RSS from
wait4. After one warm-up round (bytecode written, files in the page cache) the commands run
in rounds, the order rotated round by round, and every figure is a median over rounds; a
ratio is the median of the per-round ratios against the base command of the same round,
with its spread (max - min). CPU time, not wall: the machines are shared, and a process
waiting for a core is not slower code. A second copy of the base ("noise") measures how far
two runs of the same thing drift apart in the same run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

WRAPPER = ("import os, subprocess, sys, time; t = time.perf_counter(); "
           "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
           "_, status, u = os.wait4(p.pid, 0); w = time.perf_counter() - t; "
           "print(u.ru_utime + u.ru_stime, w, u.ru_maxrss, os.waitstatus_to_exitcode(status))")


@dataclass(frozen=True)
class Run:
    cpu: float  # seconds, user + system
    wall: float  # seconds
    rss: float  # MB, peak resident set


@dataclass(frozen=True)
class Figure:
    """One command's medians over the rounds, and its ratio to the base command."""

    cpu: float
    wall: float
    rss: float
    ratio: float  # median of the per-round CPU ratios to the base
    spread: float  # max - min of those ratios
    rss_ratio: float  # median of the per-round peak-RSS ratios

    def cell(self) -> str:
        return f"{self.ratio:5.2f}x ({self.spread:4.2f})"


def run(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """One fresh process: its CPU, wall and peak RSS."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True,
                         env=env, check=True)
    cpu, wall, rss, code = out.stdout.split()
    if code != "0":
        raise RuntimeError(f"{argv} exited {code}")
    return Run(float(cpu), float(wall), int(rss) / 1024)


def paired(cmds: dict[str, list[str]], base: str, runs: int = 5,
           env: dict[str, str] | None = None, noise: bool = True) -> dict[str, Figure]:
    """Every command of CMDS against CMDS[BASE], interleaved in RUNS rounds; with NOISE a
    second copy of the base runs as "noise" (its ratio is the noise floor of the run)."""
    cmds = {**cmds, "noise": cmds[base]} if noise else dict(cmds)
    names = list(cmds)
    for name in names:
        run(cmds[name], env)
    rounds: list[dict[str, Run]] = []
    for i in range(runs):
        order = names[i % len(names):] + names[:i % len(names)]
        if i % 2:
            order.reverse()
        rounds.append({name: run(cmds[name], env) for name in order})
    out = {}
    for name in names:
        ratios = sorted(r[name].cpu / r[base].cpu for r in rounds)
        out[name] = Figure(statistics.median(r[name].cpu for r in rounds),
                           statistics.median(r[name].wall for r in rounds),
                           statistics.median(r[name].rss for r in rounds),
                           statistics.median(ratios), ratios[-1] - ratios[0],
                           statistics.median(r[name].rss / r[base].rss for r in rounds))
    return out


def child_env(tmp: str, **extra: str) -> dict[str, str]:
    """The environment children run in: bytecode cached in a throwaway PYTHONPYCACHEPREFIX,
    as an installed package runs (pip compiles on install)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=os.path.join(tmp, "pycache"), **extra)
    return env
