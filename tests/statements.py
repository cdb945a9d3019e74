"""Counting the statements a request sends that touch data: every query budget counts with these.

Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE SAVEPOINT, ROLLBACK TO
SAVEPOINT) is left out: a budget says how much reading and writing an endpoint does, not how its
transactions are delimited, and Django logs those differently per database (SQLite sends BEGIN
itself; on PostgreSQL the driver opens the transaction without a logged BEGIN).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext

# Issue 12: no endpoint may send more statements that touch data, whatever the size of its data.
CEILING = 12

TRANSACTION_CONTROL = re.compile(
    r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO\s+SAVEPOINT)\b", re.IGNORECASE
)


def is_transaction_control(sql: str) -> bool:
    return TRANSACTION_CONTROL.match(sql) is not None


class DataStatements(CaptureQueriesContext):
    """CaptureQueriesContext that counts (`len`) and lists (`statements`) only the statements that
    touch data; `captured_queries` still has everything, transaction control included."""

    @property
    def statements(self) -> list[str]:
        return [query["sql"] for query in self.captured_queries if not is_transaction_control(query["sql"])]

    def __len__(self) -> int:
        return len(self.statements)

    def sql(self, width: int = 200) -> str:
        """The data statements, one a line (cut at `width`), for an assertion's message."""
        return "\n".join(statement[:width] for statement in self.statements)


@contextmanager
def max_data_statements(limit: int, using: str = DEFAULT_DB_ALIAS) -> Iterator[DataStatements]:
    """Fails when the block sends more than `limit` statements that touch data; yields what it captured."""
    with DataStatements(connections[using]) as captured:
        yield captured
    assert len(captured) <= limit, f"{len(captured)} data statements, more than {limit}:\n{captured.sql()}"


def assert_flat(small: DataStatements, big: DataStatements) -> None:
    """The big case sent exactly as many data statements as the small one."""
    assert len(big) == len(small), f"{len(small)} then {len(big)}:\n{big.sql()}"
