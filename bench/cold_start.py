"""Cold start: ``import app`` against ``import boto3``, each in fresh interpreters, interleaved in
one run (medians), and the size of the code zip ``chalice package`` builds. Goals: at most 2x
and 5 MB. Also the modules whose own import time is largest, where deferring pays.

    python bench/cold_start.py [--runs 9] [--stage prod]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from chalicelib.settings import Stage
from infra.resources import PROJECT_DIR, chalice_config

GOAL_RATIO = 2.0
GOAL_ZIP_BYTES = 5 * 1000 * 1000
# Wall time and the process's CPU time: on a shared machine the CPU time is the steadier figure,
# and it is what a Lambda cold start spends (its imports do not wait on the network).
TIMER = (
    "import time; w = time.perf_counter(); c = time.process_time(); import {module}; "
    "print(time.perf_counter() - w, time.process_time() - c)"
)


def stage_env(stage: Stage) -> dict[str, str]:
    """What Lambda gives the function: the stage's variables, and no local endpoint."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOCSIN_")}
    env.pop("AWS_ENDPOINT_URL", None)
    env.update(chalice_config(stage, "api_handler").environment_variables)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def timed_import(module: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``import module`` in a fresh interpreter."""
    completed = subprocess.run(
        [sys.executable, "-c", TIMER.format(module=module)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = completed.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def slowest_modules(env: dict[str, str], count: int = 8) -> list[tuple[int, str]]:
    """(own microseconds, module) of ``import app``, from ``-X importtime``."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in completed.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match.group(1)), match.group(3)))
    return sorted(rows, reverse=True)[:count]


def zip_size(stage: Stage) -> int:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [str(Path(sys.executable).parent / "chalice"), "package", "--stage", stage.value, out],
            cwd=PROJECT_DIR,
            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
            capture_output=True,
            check=True,
        )
        return (Path(out) / "deployment.zip").stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--stage", choices=[stage.value for stage in Stage], default="prod")
    args = parser.parse_args()
    stage = Stage(args.stage)
    env = stage_env(stage)
    timed_import("app", env)  # compile to bytecode once, as the zip's first cold start did not
    boto3_times, app_times = [], []
    for _ in range(args.runs):
        boto3_times.append(timed_import("boto3", env))
        app_times.append(timed_import("app", env))
    boto3_wall = statistics.median(wall for wall, _ in boto3_times)
    app_wall = statistics.median(wall for wall, _ in app_times)
    boto3_cpu = statistics.median(cpu for _, cpu in boto3_times)
    app_cpu = statistics.median(cpu for _, cpu in app_times)
    ratio = app_cpu / boto3_cpu
    size = zip_size(stage)
    print(f"Cold start ({args.runs} fresh interpreters each, interleaved, medians; {stage.value})")
    print(f"  {'':14}{'CPU':>9}{'wall':>10}")
    print(f"  import boto3  {boto3_cpu * 1000:7.1f} ms {boto3_wall * 1000:7.1f} ms")
    print(f"  import app    {app_cpu * 1000:7.1f} ms {app_wall * 1000:7.1f} ms")
    print(
        f"  ratio         {ratio:7.2f} x {app_wall / boto3_wall:7.2f} x   "
        f"goal <= {GOAL_RATIO:.1f} x (CPU): {'met' if ratio <= GOAL_RATIO else 'NOT met'}"
    )
    print(
        f"  code zip      {size / 1e6:7.2f} MB     goal <= {GOAL_ZIP_BYTES / 1e6:.0f} MB: "
        f"{'met' if size <= GOAL_ZIP_BYTES else 'NOT met'}"
    )
    print("  largest own import times in `import app`:")
    for micros, module in slowest_modules(env):
        print(f"    {micros / 1000:6.1f} ms  {module}")


if __name__ == "__main__":
    main()
