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


def memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in kB, from /proc/PID/smaps_rollup; (0, 0) once it is gone.

    PSS (proportional set size) counts a page shared by N processes as 1/N in each: summed
    over a tree it is what the tree really occupies, where RSS counts shared pages again in
    every process."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    pss = int(fields.get("Pss", "0 kB").split()[0])
    rss = int(fields.get("Rss", "0 kB").split()[0])
    return pss, rss


def _role(command: str) -> str:
    for part in command.split():
        if part.startswith("tocsin_local."):
            return part.rsplit(".", 1)[-1]
    if " run" in command and "tocsin" in command:
        return "supervisor"
    return command.split()[0].rsplit("/", 1)[-1] if command else "?"


def tree_memory_mb(root: int) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """(PSS MB, RSS MB, {role: (PSS MB, RSS MB)}) of ``root`` and everything below it; function
    instances are summed under one role with their count."""
    table = descendants(root)
    own = processes().get(root)
    if own is not None:
        table[root] = own
    roles: dict[str, list[int]] = {}
    total_pss = total_rss = 0
    for pid, process in table.items():
        pss, rss = memory_kb(pid)
        total_pss += pss
        total_rss += rss
        sums = roles.setdefault(_role(process.command), [0, 0, 0])
        sums[0] += pss
        sums[1] += rss
        sums[2] += 1
    named = {
        (f"{role} x{count}" if count > 1 else role): (pss / 1024, rss / 1024)
        for role, (pss, rss, count) in roles.items()
    }
    return total_pss / 1024, total_rss / 1024, named
