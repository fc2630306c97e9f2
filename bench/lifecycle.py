"""Start, stop and memory of `make run`, measured as a developer meets them.

Each round starts `make run` in a process group of its own (ports and state directory of its
own), and measures:

- start: command -> ``/health`` answers 200,
- memory of the whole process tree once idle (function instances warm): PSS (shared pages
  counted once, from ``/proc/PID/smaps_rollup``) and RSS, per process,
- stop: SIGINT to the group (what Ctrl-C sends) -> every process of the tree gone and both
  ports free; once idle and once right after a burst of notifications.

    python bench/lifecycle.py [--rounds 3] [--burst 300]

Figures are printed beside the goals of issue 19, never asserted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tocsin_local.local_cloud import free_port, port_free  # noqa: E402
from tocsin_local.process_tree import descendants, tree_memory_mb  # noqa: E402
from tocsin_local.progress import bar  # noqa: E402

GOALS = {"start": 1.5, "stop_idle": 1.0, "stop_burst": 2.0, "pss_idle": 200.0}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        # A zombie (exited, not yet reaped) is gone for our purpose.
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


class Run:
    def __init__(self, state_dir: Path, extra: list[str] | None = None) -> None:
        self.api_port, self.moto_port = free_port(), free_port()
        self.state_dir = state_dir
        env = {
            **os.environ,
            "TOCSIN_PORT": str(self.api_port),
            "TOCSIN_MOTO_PORT": str(self.moto_port),
            "TOCSIN_STATE_DIR": str(state_dir),
        }
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "-C", str(ROOT), "run", *(extra or [])],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def wait_healthy(self, timeout: float = 120.0) -> float:
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.api + "/health", timeout=1).status_code == 200:
                    return time.monotonic() - self.started
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("make run exited early")
            time.sleep(0.01)
        raise TimeoutError("no /health 200")

    def info(self) -> dict[str, str]:
        path = self.state_dir / "local.json"
        deadline = time.monotonic() + 60
        while True:
            try:
                data: dict[str, str] = json.loads(path.read_text())
                return data
            except (FileNotFoundError, ValueError):  # not written yet, or being written
                if time.monotonic() > deadline:
                    raise TimeoutError("no local.json") from None
                time.sleep(0.02)

    def wait_warm(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            commands = [p.command for p in descendants(self.process.pid).values()]
            if any("emulator.worker" in c for c in commands):
                return
            time.sleep(0.1)

    def stop(self) -> float:
        """SIGINT to the group -> every process gone and both ports free, in seconds."""
        tree = [self.process.pid, *descendants(self.process.pid)]
        begun = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        deadline = begun + 60
        while time.monotonic() < deadline:
            self.process.poll()
            if (
                not any(alive(pid) for pid in tree)
                and port_free(self.api_port)
                and port_free(self.moto_port)
            ):
                return time.monotonic() - begun
            time.sleep(0.005)
        for pid in tree:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        return float("inf")


def burst(api: str, key: str, count: int, clients: int = 16) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    session.put(
        f"{api}/v1/recipients/lifecycle",
        json={"webhook_url": "http://127.0.0.1:9/hook"},
        timeout=30,
    ).raise_for_status()

    def send(index: int) -> int:
        response = requests.post(
            f"{api}/v1/notifications",
            json={"recipient_id": "lifecycle", "title": f"burst {index}"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        codes = list(pool.map(send, range(count)))
    refused = [code for code in codes if code != 202]
    if refused:
        print(f"  (burst: {len(refused)} POSTs not accepted)", file=sys.stderr)


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):5.2f}  min {min(values):5.2f}  max {max(values):5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=300)
    args = parser.parse_args()
    starts: list[float] = []
    idle_stops: list[float] = []
    burst_stops: list[float] = []
    memory: list[tuple[float, float, dict[str, tuple[float, float]]]] = []
    load = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="tocsin-lifecycle-") as tmp,
        bar(args.rounds * 2, "make run started and stopped", "run") as progress,
    ):
        for _round in range(args.rounds):
            # One state directory, as a developer's .tocsin/: later starts find what the
            # first one kept (the project's description).
            run = Run(Path(tmp) / "state")
            starts.append(run.wait_healthy())
            run.info()
            run.wait_warm()
            time.sleep(2.0)
            memory.append(tree_memory_mb(run.process.pid))
            idle_stops.append(run.stop())
            progress.update()
            run = Run(Path(tmp) / "state")
            run.wait_healthy()
            info = run.info()
            burst(run.api, info["api_key"], args.burst)
            burst_stops.append(run.stop())
            progress.update()
    load_after = os.getloadavg()
    print(f"\n`make run` lifecycle, {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"  load average before {load[0]:.1f}, after {load_after[0]:.1f}")
    print(f"  start (make run -> /health 200), s:     {summary(starts)}   goal <= {GOALS['start']}")
    print(
        f"  stop idle (SIGINT -> all gone, ports free), s: {summary(idle_stops)}   goal <= {GOALS['stop_idle']}"
    )
    print(
        f"  stop after a {args.burst}-notification burst, s: {summary(burst_stops)}   goal <= {GOALS['stop_burst']}"
    )
    pss, rss, per_process = min(memory, key=lambda item: item[0])
    print(
        f"  idle memory, whole tree: PSS {pss:5.0f} MB, RSS {rss:5.0f} MB   goal PSS <= {GOALS['pss_idle']:.0f}"
    )
    for name, (process_pss, process_rss) in sorted(per_process.items()):
        print(f"    {name:<28} PSS {process_pss:5.0f} MB  RSS {process_rss:5.0f} MB")


if __name__ == "__main__":
    main()
