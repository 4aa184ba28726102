"""``make run``'s launcher: a dead process is restarted, the product is never stopped by it,
and Ctrl-C/SIGTERM stops everything, killing what ignores SIGTERM after a deadline.

Runs ``python -m config.launcher`` as ``make run`` does, on a free port with its own data
folder: once with the real layout (``Procfile.embedded``), once with a layout file of
stand-in processes (``BOTFLEET_PROCFILE``) for a crash loop and a process that ignores
SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import USING_POSTGRES
from tests.processes import BASE_DIR, Product, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="make run's launcher: checked in the embedded pass"),
]


class Launcher:
    def __init__(self, product: Product, **env: str):
        self.product = product
        self.log = product.data_dir / "launcher.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.launcher"],
            cwd=BASE_DIR,
            env={**product.env(), **env},
            stdout=open(self.log, "ab"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float) -> None:
        wait_until(lambda: text in self.output(), timeout=timeout, what=f"{text!r} in the launcher's output")

    def children(self) -> dict[int, str]:
        out = subprocess.run(
            ["ps", "-o", "pid=,args=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return {int(pid): args for pid, _, args in (line.strip().partition(" ") for line in out.splitlines())}

    def child(self, word: str) -> int:
        return next(pid for pid, args in self.children().items() if word in args)

    def terminate(self, timeout: float) -> float:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def cleanup(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def product():
    product = Product()
    yield product
    product.cleanup()


def test_a_killed_worker_is_restarted_and_the_product_keeps_serving(product):
    launcher = Launcher(product)
    try:
        wait_until(
            lambda: httpx.get(f"{product.base_url}/api/ready", timeout=5).status_code == 200,
            timeout=180,
            what="make run ready",
        )
        asgi, worker = launcher.child("realtime.asgi_server"), launcher.child("worker")

        killed_at = datetime.now(UTC)
        os.killpg(worker, signal.SIGKILL)  # the worker and its pool, as a crash takes them

        launcher.wait_output("worker exited with status -9; restarting it in 1 s", timeout=30)
        launcher.wait_output("restarting worker", timeout=30)
        new_worker = launcher.child("worker")
        assert new_worker != worker and launcher.child("realtime.asgi_server") == asgi
        assert httpx.get(f"{product.base_url}/api/health", timeout=5).status_code == 200

        def beating_since_kill() -> bool:
            body = httpx.get(f"{product.base_url}/api/status", headers=product.ops_headers, timeout=5).json()
            return body["status"] == "online" and datetime.fromisoformat(body["last_heartbeat"]) > killed_at

        wait_until(beating_since_kill, timeout=60, what="the new worker beating")

        took = launcher.terminate(timeout=40)

        assert launcher.process.returncode == 0
        assert took < 30, took
        assert "Botfleet: stopped." in launcher.output()
        assert not [pid for pid in (asgi, new_worker) if alive(pid)]
    except BaseException:
        print(launcher.output()[-6000:])
        raise
    finally:
        launcher.cleanup()


def test_a_crash_loop_backs_off_and_a_process_ignoring_sigterm_is_killed_at_the_deadline(product, tmp_path):
    starts, stubborn_pid = tmp_path / "starts", tmp_path / "stubborn.pid"
    procfile = tmp_path / "Procfile.test"
    procfile.write_text(
        "# stand-ins: one that always fails, one that ignores SIGTERM\n"
        f"crasher: python -c \"import pathlib, sys; p = pathlib.Path('{starts}'); "
        "p.write_text((p.read_text() if p.exists() else '') + 'x'); sys.exit(3)\"\n"
        f'stubborn: python -c "import os, pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
        f"pathlib.Path('{stubborn_pid}').write_text(str(os.getpid())); time.sleep(600)\"\n"
    )
    launcher = Launcher(product, BOTFLEET_PROCFILE=str(procfile), BOTFLEET_STOP_SECONDS="3")
    try:
        wait_until(lambda: starts.exists() and len(starts.read_text()) >= 4, timeout=120, what="four starts")
        output = launcher.output()
        for delay, death in (("1", 1), ("2", 2), ("4", 3)):
            assert f"crasher exited with status 3; restarting it in {delay} s (death {death} in a row)" in output
        assert launcher.process.poll() is None  # a crash loop never stops the product
        wait_until(stubborn_pid.exists, timeout=10, what="the stubborn process")
        stubborn = int(stubborn_pid.read_text())

        took = launcher.terminate(timeout=30)

        assert launcher.process.returncode == 0
        assert 3 <= took < 10, took
        assert "stubborn ignored SIGTERM for 3 s; killing it" in launcher.output()
        assert not alive(stubborn)
    except BaseException:
        print(launcher.output()[-6000:])
        raise
    finally:
        launcher.cleanup()
