"""A pool's worker keeps the memory it frees for its next object
(``processes.keep_freed_memory``): under glibc's defaults each object's rows
and Arrow arrays came as new pages from the kernel, one page fault per 4 KiB,
a cost the worker paid again for every object (bench/FINDINGS.md)."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from events import processes

ROOT = Path(__file__).resolve().parent.parent
#: Bigger than glibc's first threshold (128 KiB) and smaller than ours (32 MiB), as an object's arrays are.
BLOCK = 24 * 1024 * 1024


def faults_of_a_block_made_again() -> int:
    """Minor page faults of making (and filling) a ``BLOCK`` again after one was freed."""
    block = bytearray(BLOCK)
    del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = bytearray(BLOCK)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del block
    return after - before


PLAIN = """
from tests.test_worker_memory import faults_of_a_block_made_again
print(faults_of_a_block_made_again())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds set are glibc malloc's")
def test_a_pool_worker_reuses_freed_memory_where_a_plain_process_faults_it_in_again() -> None:
    # The control: a process with glibc's defaults gets the block's pages anew (6,144 of 4 KiB).
    plain = int(
        subprocess.run([sys.executable, "-c", PLAIN], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    assert plain > BLOCK // 4096 // 2
    pool = processes.executor(1)
    try:
        in_worker = pool.submit(faults_of_a_block_made_again).result()
    finally:
        pool.shutdown()
    assert in_worker < 100, f"{in_worker} page faults in a pool worker, {plain} in a plain process"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds set are glibc malloc's")
def test_an_operators_malloc_settings_are_left_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set through the environment (as gunicorn.conf.py leaves MALLOC_ARENA_MAX to the operator), glibc's own
    # thresholds win: here, glibc's defaults stay, so the worker faults the block in again.
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", str(128 * 1024))
    assert processes.keep_freed_memory() is False
    pool = processes.executor(1)
    try:
        in_worker = pool.submit(faults_of_a_block_made_again).result()
    finally:
        pool.shutdown()
    assert in_worker > BLOCK // 4096 // 2
