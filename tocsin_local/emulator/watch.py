"""Noticing code changes: the files Chalice would bundle, and the project configuration."""

from __future__ import annotations

from pathlib import Path


def watched_files(project_dir: Path) -> dict[Path, float]:
    """Modification times of app.py, chalicelib/**/*.py and .chalice/config.json."""
    candidates = [project_dir / "app.py", project_dir / ".chalice" / "config.json"]
    lib = project_dir / "chalicelib"
    if lib.is_dir():
        candidates += sorted(lib.rglob("*.py"))
    stamps = {}
    for path in candidates:
        try:
            stamps[path] = path.stat().st_mtime
        except FileNotFoundError:
            continue
    return stamps
