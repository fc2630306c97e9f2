"""`make run` as a developer uses it: Ctrl-C right after a burst stops everything fast, and with
``PERSIST=1`` what was accepted before the stop is delivered after the restart, once."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from werkzeug.wrappers import Response

from infra.resources import PROJECT_DIR
from tests.harness import Api, Delivery, poll, receiver
from tocsin_local.local_cloud import free_port, port_free
from tocsin_local.process_tree import descendants

STOP_GOAL_SECONDS = 2.0


def gone(pid: int) -> bool:
    """No such process, or a zombie (ended, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


class MakeRun:
    """`make run [PERSIST=1]` in a process group of its own, on ports and a state dir of its own."""

    def __init__(self, state_dir: Path, *make_args: str) -> None:
        self.state_dir = state_dir
        self.api_port, self.moto_port = free_port(), free_port()
        state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "TOCSIN_PORT": str(self.api_port),
            "TOCSIN_MOTO_PORT": str(self.moto_port),
            "TOCSIN_STATE_DIR": str(state_dir),
        }
        with (state_dir / "make-run.log").open("a") as log:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "-C", str(PROJECT_DIR), "run", *make_args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def api(self) -> Api:
        path = self.state_dir / "local.json"

        def ready() -> dict[str, str] | None:
            if self.process.poll() is not None:
                raise AssertionError((self.state_dir / "make-run.log").read_text())
            try:
                found: dict[str, str] = json.loads(path.read_text())
            except (FileNotFoundError, ValueError):  # not written yet, or being written
                return None
            return found

        info = poll(ready, timeout=90, what="make run ready")
        return Api(info["api_url"], info["api_key"])

    def interrupt(self) -> float:
        """Ctrl-C: SIGINT to the group; seconds until every process is gone and both ports
        are free."""
        tree = [self.process.pid, *descendants(self.process.pid)]
        begun = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)

        def stopped() -> float | None:
            self.process.poll()
            if any(not gone(pid) for pid in tree):
                return None
            if not (port_free(self.api_port) and port_free(self.moto_port)):
                return None
            return time.monotonic() - begun

        return poll(stopped, timeout=30, interval=0.01, what="every process gone, ports free")

    def kill(self) -> None:
        if self.process.poll() is None:
            for pid in [*descendants(self.process.pid), self.process.pid]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(10)


@contextmanager
def make_run(state_dir: Path, *make_args: str) -> Iterator[MakeRun]:
    run = MakeRun(state_dir, *make_args)
    try:
        yield run
    finally:
        run.kill()


def burst(api: Api, recipient: str, count: int) -> list[str]:
    def send(index: int) -> str:
        response = Api(api.base, api.key).notify(recipient_id=recipient, title=f"burst {index}")
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(count)))


def test_ctrl_c_on_make_run_right_after_a_burst_stops_everything_within_2_s(
    tmp_path: Path,
) -> None:
    with receiver(None) as hook, make_run(tmp_path) as run:
        # GIVEN make run with a recipient and a burst of notifications just accepted
        api = run.api()
        assert api.put_recipient("burst", webhook_url=hook.url).status_code in (200, 201)
        burst(api, "burst", 80)
        # WHEN Ctrl-C reaches make run's process group
        elapsed = run.interrupt()
        # THEN every process is gone and both ports are free within the goal
        assert elapsed <= STOP_GOAL_SECONDS, f"stopped in {elapsed:.2f} s"


def test_with_persist_what_was_accepted_before_a_stop_is_delivered_after_the_restart_once(
    tmp_path: Path,
) -> None:
    with receiver(None) as hook:
        # A receiver slow enough that most of the burst is still queued at the stop.
        def slowly(_: Delivery) -> Response:
            time.sleep(0.2)
            return Response("ok", status=200)

        hook.respond = slowly
        # GIVEN make run PERSIST=1, a recipient and a burst of notifications just accepted
        with make_run(tmp_path, "PERSIST=1") as run:
            api = run.api()
            assert api.put_recipient("kept", webhook_url=hook.url).status_code in (200, 201)
            accepted = burst(api, "kept", 40)
            # WHEN the stack is stopped with Ctrl-C right away
            run.interrupt()
        assert (tmp_path / "cloud.pickle").exists()
        # AND started again with PERSIST=1
        with make_run(tmp_path, "PERSIST=1") as run:
            api = run.api()

            # THEN every notification accepted before the stop is delivered, each once
            def all_delivered() -> bool:
                seen = {item.body.get("id") for item in hook.received}
                return seen >= set(accepted)

            poll(all_delivered, timeout=120, interval=0.2, what="every notification delivered")
            ids = [str(item.body.get("id")) for item in hook.received]
            assert sorted(ids) == sorted(accepted), "a notification was delivered twice"
            assert api.notification(accepted[0])["status"] == "delivered"
            run.interrupt()
        # AND without PERSIST the next start is an empty cloud again
        with make_run(tmp_path) as run:
            api = run.api()
            assert api.request("GET", f"/v1/notifications/{accepted[0]}").status_code == 404
            run.interrupt()
