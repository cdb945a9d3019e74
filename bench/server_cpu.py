"""Server CPU seconds, read from /proc: the gunicorn master and workers (one process group) and
the PostgreSQL backends connected to the benchmark's database. The load driver's own CPU is not
counted, nor PostgreSQL's background processes, nor other databases' backends on the same server.

A backend that connects during a measured slice counts from its start; one that disconnects
during it loses what it spent (gunicorn keeps its connections, so neither happens in a run).
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # After the name: state(3) ppid(4) pgrp(5) ... utime(14) stime(15), numbered as in proc(5).
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


class ServerCPU:
    """`sample()` → {pid: CPU seconds so far} of the server's processes; `spent(before, after)`."""

    def __init__(self, gunicorn_pgid: int, database_url: str) -> None:
        self.pgid = gunicorn_pgid
        self.connection = psycopg.connect(database_url, autocommit=True)

    def backends(self) -> list[int]:
        rows = self.connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
        return [row[0] for row in rows]

    def sample(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in [*process_group(self.pgid), *self.backends()]}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())

    def close(self) -> None:
        self.connection.close()
