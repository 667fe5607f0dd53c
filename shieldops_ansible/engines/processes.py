"""A process's descendants, found through the parent links in /proc.

ansible-core's task workers call setsid(), so no process group covers a whole run; the parent links do.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["descendants", "stat_fields"]


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first: man 5 proc's field 3), or None when the
    process is gone. The name may hold spaces and parentheses, so the split is at the last ')'."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (children, their children, ...), as they are at this moment."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        fields = stat_fields(proc.name)
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(proc.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
