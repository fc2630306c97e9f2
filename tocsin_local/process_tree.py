"""A process and everything below it, read from /proc (Linux): what the lifecycle tests check
for orphans and what the benchmarks sum for memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    parent: int
    rss_kb: int
    command: str


def processes() -> dict[int, Process]:
    found: dict[int, Process] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss = fields.get("VmRSS", "0 kB").split()[0]
        found[int(entry.name)] = Process(int(fields["PPid"]), int(rss), command.strip())
    return found


def descendants(root: int) -> dict[int, Process]:
    """Every process below ``root`` (not ``root`` itself)."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, process in table.items():
        children.setdefault(process.parent, []).append(pid)
    found: dict[int, Process] = {}
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found[child] = table[child]
                frontier.append(child)
    return found


def tree_rss_mb(root: int) -> tuple[float, int]:
    """(resident MB, process count) of ``root`` and everything below it."""
    tree = descendants(root)
    own = processes().get(root)
    total_kb = sum(process.rss_kb for process in tree.values()) + (own.rss_kb if own else 0)
    return total_kb / 1024, len(tree) + (1 if own else 0)
