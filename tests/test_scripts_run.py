"""``scripts/run`` end to end, in a copy of the checkout: it writes the
settings it chose to the checkout's ``.env`` (keeping what the user put
there), so an application password made by the ``flask`` CLI in a second
shell with a clean environment is accepted by the server it started; and it
probes a route that exists (no 404 in the access log)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import time
import typing as t
from pathlib import Path

import dotenv
import psutil

from tests.conftest import TEST_REDIS_URL, free_port

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
USER_DOTENV = "# settings of my own\nANALYTICS_REDIS_PREFIX=dotenv-test:\nANALYTICS_LATE_HOURS=3\n"


def copy_checkout(dest: Path) -> Path:
    """The files git would check out (tracked and new, not ignored), and the venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    # The venv's contents shared, its install stamp copied: scripts/run checks
    # it against its own requirements and must not rewrite the real one.
    venv = dest / ".venv"
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if entry.name == ".requirements.sha":
            shutil.copy2(entry, venv / entry.name)
        else:
            (venv / entry.name).symlink_to(entry)
    return dest


def wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in path.read_text(errors="replace"):
        assert proc.poll() is None, f"scripts/run exited {proc.returncode}:\n{path.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} after {seconds} s:\n{path.read_text()}"
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a person stops it; then make sure nothing it started lives on."""
    try:
        family = [proc, *(psutil.Process(proc.pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        family = []
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    for member in family:
        if isinstance(member, psutil.Process) and member.is_running():
            member.kill()


def test_a_password_made_in_a_second_shell_works_against_the_server_scripts_run_started(
    redis: redis_lib.Redis, tmp_path: Path
) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    (checkout / ".env").write_text(USER_DOTENV)
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "REDIS_URL": TEST_REDIS_URL,
        "PORT": str(port),
        "WEB_WORKERS": "1",
        "DEMO_EVENTS_PER_DAY": "300",
    }
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            ["bash", "scripts/run"], cwd=checkout, env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    try:
        wait_for(err, "Serving on", proc, 300)

        # A second shell: nothing exported but PATH and HOME.
        clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
        created = subprocess.run(
            [".venv/bin/flask", "--app", "wsgi", "app-passwords", "create", "admin", "second shell"],
            cwd=checkout,
            env=clean,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        password = created.stdout.strip().splitlines()[-1]
        day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
        url = f"http://127.0.0.1:{port}/wp-json/analytics/v1/events/{day}?format=ndjson"
        curl = subprocess.run(
            ["curl", "-s", "-o", str(tmp_path / "body"), "-w", "%{http_code}", "-u", f"admin:{password}", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert curl.stdout == "200", (tmp_path / "body").read_text()
        assert (tmp_path / "body").read_bytes().count(b"\n") > 0, "yesterday's demo events"

        # gunicorn started by hand in that shell: not the flask CLI, so
        # config.load_dotenv reads .env; the same password works there too.
        other = free_port()
        gunicorn = subprocess.Popen(
            [".venv/bin/gunicorn", "-b", f"127.0.0.1:{other}", "-w", "1", "--no-control-socket", "wsgi:app"],
            cwd=checkout,
            env=clean,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            code = ""
            deadline = time.monotonic() + 60
            while code != "200" and time.monotonic() < deadline and gunicorn.poll() is None:
                time.sleep(0.2)
                code = subprocess.run(
                    [
                        "curl",
                        "-s",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        "-I",
                        "-u",
                        f"admin:{password}",
                        url.replace(str(port), str(other)),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                ).stdout
            assert code == "200"
        finally:
            stop(gunicorn)

        # A second scripts/run while the first serves: refused at once, nothing revoked.
        second = subprocess.run(
            ["bash", "scripts/run"], cwd=checkout, env=env, capture_output=True, text=True, timeout=300
        )
        assert second.returncode != 0 and f"127.0.0.1:{port}" in second.stderr, second.stderr[-2000:]
    finally:
        stop(proc)

    # Started again: the password made by hand is still valid (only scripts/run's own is replaced).
    again_err = tmp_path / "again.err"
    with again_err.open("wb") as stderr:
        again = subprocess.Popen(
            ["bash", "scripts/run"], cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(again_err, "Serving on", again, 300)
        code = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", "-u", f"admin:{password}", url],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        assert code == "200", "a restart of scripts/run revoked a password it did not make"
    finally:
        stop(again)

    saved = dotenv.dotenv_values(checkout / ".env")
    assert (checkout / ".env").read_text().startswith(USER_DOTENV), "the user's lines are kept as they were"
    assert saved["ANALYTICS_REDIS_PREFIX"] == "dotenv-test:" and saved["ANALYTICS_LATE_HOURS"] == "3"
    assert saved["REDIS_URL"] == TEST_REDIS_URL
    assert saved["ANALYTICS_SOURCE"] == str(checkout / "data" / "events")
    assert len(saved["ANALYTICS_SECRET_KEY"] or "") == 64
    assert redis.keys("dotenv-test:*"), "the server and the CLI used the prefix from .env"
    assert ".env" in (checkout / ".gitignore").read_text().split()

    access = out.read_text(errors="replace")
    assert "HEAD /wp-json/analytics/v1/events/" in access, access[-2000:]
    assert '" 404 ' not in access, [line for line in access.splitlines() if '" 404 ' in line]
