"""The CSV downloads' long-lived process pool (events/processes.py) does not
outlive the web process that made it, even when that process is SIGKILLed
(gunicorn's worker time-out, the OOM killer) and cannot shut it down
(fresh-eyes review: its workers, forkserver and resource tracker lived on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

OWNER = """
import os, sys
from events import processes
pool = processes.shared()
assert pool is not None
pids = {future.result() for future in [pool.submit(os.getpid) for _ in range(64)]}  # the workers that ran
print(" ".join(map(str, sorted(pids))), flush=True)
sys.stdin.read()  # hold until killed
"""


def test_the_pool_ends_when_its_web_process_is_killed() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        return  # one core: no pool is made (processes.shared returns None); nothing can be left behind
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        workers = [int(pid) for pid in owner.stdout.readline().split()]
        assert workers, "the pool ran nothing"
        made = psutil.Process(owner.pid).children(recursive=True)  # forkserver, resource tracker, workers
        assert {p.pid for p in made} >= set(workers)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in made):
        time.sleep(0.2)
    left = [(p.pid, p.name()) for p in made if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], left
