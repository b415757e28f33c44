"""A ``redis-server`` of a test's own on a free port, to restart, freeze, fill
or empty without touching the shared server every other test (and engineer)
uses: ``--save ""`` and either no persistence or an AOF in the test's
directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import typing as t
from pathlib import Path

import redis as redis_lib

from tests.conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """``RedisServer(tmp_path, aof=True)``: ``start``, ``restart``, ``freeze``/``thaw`` (SIGSTOP/SIGCONT), ``stop``."""

    def __init__(self, directory: Path, *, aof: bool, maxmemory: str = "0") -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aof = aof
        self.maxmemory = maxmemory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            REDIS_SERVER,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "yes" if self.aof else "no",
            "--appendfsync", "always",
            "--dir", str(self.dir),
            "--maxmemory", self.maxmemory,
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        with (self.dir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis_lib.RedisError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.dir / 'redis.log').read_text()[-1000:]}")
            time.sleep(0.05)

    def client(self) -> redis_lib.Redis:
        """A fresh client with short time-outs (for the test's own checks)."""
        return redis_lib.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=1)

    def stop(self) -> None:
        """Stop the server the hard way (a crash): what the AOF holds survives, nothing else."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def restart(self, *, empty: bool = False) -> None:
        """Kill and start again on the same port; ``empty`` also deletes the AOF (Redis comes back with nothing)."""
        self.stop()
        if empty:
            shutil.rmtree(self.dir / "appendonlydir", ignore_errors=True)
        self.start()

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.stop()
