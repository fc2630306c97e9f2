"""``tocsin status``: what the local cloud is doing, as the AWS console would show it.

Each queue's depth (messages waiting), in-flight count (received, not yet deleted) and the depth
of its dead-letter queue; each function's invocations, errors, throttles and duration p50/p99
since the trigger runner started (the runner's ``GET /status``). ``--watch`` redraws it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def queues(sqs: Any) -> list[dict[str, Any]]:
    """Each queue that is not only a dead-letter queue: name, depth, in flight, dead letters."""
    urls: list[str] = []
    for page in sqs.get_paginator("list_queues").paginate():
        urls += page.get("QueueUrls", [])
    attributes: dict[str, dict[str, str]] = {}
    for url in urls:
        attributes[url] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
    by_arn = {found["QueueArn"]: found for found in attributes.values()}
    dead_letter_arns: set[str] = set()
    rows: list[dict[str, Any]] = []
    for url, found in attributes.items():
        policy = json.loads(found.get("RedrivePolicy") or "{}")
        target = by_arn.get(policy.get("deadLetterTargetArn", ""))
        if target is not None:
            dead_letter_arns.add(target["QueueArn"])
        rows.append(
            {
                "queue": url.rsplit("/", 1)[-1],
                "arn": found["QueueArn"],
                "depth": int(found.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(found.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "dead_letters": (
                    int(target.get("ApproximateNumberOfMessages", 0)) if target else None
                ),
            }
        )
    return sorted(
        (row for row in rows if row.pop("arn") not in dead_letter_arns),
        key=lambda row: str(row["queue"]),
    )


def functions(state_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The runner's counters per function; None when no runner answers."""
    try:
        port = json.loads((state_dir / "runner.json").read_text())["control_port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            found: dict[str, dict[str, Any]] = json.load(response).get("functions", {})
    except (OSError, ValueError, KeyError):
        return None
    return found


def snapshot(sqs: Any, state_dir: Path) -> dict[str, Any]:
    return {"queues": queues(sqs), "functions": functions(state_dir)}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(status: dict[str, Any]) -> str:
    lines = [f"{'queue':<36} {'depth':>7} {'in flight':>10} {'dead letters':>13}"]
    for row in status["queues"]:
        dead = "-" if row["dead_letters"] is None else str(row["dead_letters"])
        lines.append(f"{row['queue']:<36} {row['depth']:>7} {row['in_flight']:>10} {dead:>13}")
    lines.append("")
    found = status["functions"]
    if found is None:
        lines.append("(no trigger runner answers: is `make run` running?)")
        return "\n".join(lines)
    lines.append(
        f"{'function':<24} {'invocations':>11} {'errors':>7} {'throttles':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'instances':>9}"
    )
    for name, stats in sorted(found.items()):
        lines.append(
            f"{name:<24} {stats.get('invocations', 0):>11} {stats.get('errors', 0):>7} "
            f"{stats.get('throttles', 0):>9} {_ms(stats.get('duration_p50_ms')):>8} "
            f"{_ms(stats.get('duration_p99_ms')):>8} {stats.get('instances', 0):>9}"
        )
    return "\n".join(lines)


def show(sqs: Any, state_dir: Path, *, as_json: bool, watch: float | None) -> int:
    while True:
        status = snapshot(sqs, state_dir)
        if as_json:
            text = json.dumps(status, indent=None if watch else 2)
        else:
            text = render(status)
            if watch and sys.stdout.isatty():
                # Home and clear, then the table: a refresh in place.
                text = "\x1b[H\x1b[J" + time.strftime("%H:%M:%S") + "\n" + text
        print(text, flush=True)
        if not watch:
            return 0
        time.sleep(watch)
