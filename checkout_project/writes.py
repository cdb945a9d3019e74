"""WriteBatch: the writes a service makes after its last read, sent to the database together.

A write request reads (lock, items, offers), decides, then writes several tables: the items, the
basket's UPDATE, its event. Sent one by one, each write is a round trip and a statement for
PostgreSQL to parse, bind and run. A WriteBatch collects them, built by Django's own SQL
compilers exactly as `bulk_create`, `save(update_fields=...)`, `QuerySet.update()` and a fast
`QuerySet.delete()` would build them, and `send()` runs them:

- on PostgreSQL, as one statement: each write becomes a data-modifying CTE
  (`WITH w0 AS (INSERT ... RETURNING id), w1 AS (UPDATE ... RETURNING id) SELECT ...`), all in
  the caller's transaction. PostgreSQL runs every one of them exactly once, to completion; the
  foreign keys between them are checked at the end of the statement, so a batch may insert a
  basket and its items together. What the writes must not do is touch the same row twice (one
  snapshot: a write does not see another's effects), which each `add_*` method's caller keeps;
  `send()` refuses a batch that names one row in two writes it can tell apart (primary keys);
- elsewhere (SQLite), one by one through the same ORM calls.

Either way the objects end as those ORM calls leave them: inserted rows no longer `adding`,
auto-increment primary keys set from RETURNING, `auto_now` fields filled in. A `save` that
matches no row raises DatabaseError, as `save(update_fields=...)` does. Database errors
(IntegrityError...) are raised by `send()`; the caller's transaction then rolls back, so nothing
of the batch stays.

Only writes that need nothing back but their row count and new primary keys belong in a batch.
A guarded write whose refusal stops the caller (a counter `... WHERE used < available`) may join
with `update(..., unless_matched=error)`: send() raises the error, and the transaction rolls the
rest back. A write whose result the caller reads (an upsert that returns the winning row) runs on
its own before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections, router
from django.db.models import AutoField, Model, QuerySet, sql
from django.db.models.deletion import Collector


@dataclass
class _Write:
    model: type[Model]
    kind: str  # "insert" | "save" | "update" | "delete"
    run: Any  # the ORM call (sequential path)
    compile: Any  # -> (sql, params), the statement without RETURNING (PostgreSQL path)
    objs: list[Model] = field(default_factory=list)  # inserts: pks to set; saves: the instance
    returns_pks: bool = False  # auto-increment pks to read back
    unless_matched: Exception | None = None  # raised by send() when the write matched no row
    fields: list[str] = field(default_factory=list)  # a save's fields (the same list its closures read)


class WriteBatch:
    """Writes to send together; see the module docstring. One batch per transaction step."""

    def __init__(self, using: str | None = None):
        self.using = using
        self._writes: list[_Write] = []

    def __len__(self) -> int:
        return len(self._writes)

    def _db(self, model: type[Model]) -> str:
        return self.using or router.db_for_write(model)

    # --- Collecting ------------------------------------------------------------------------

    def insert(
        self, objs: Sequence[Model], *, update_conflicts_on: Sequence[str] = (), update_fields: Sequence[str] = ()
    ) -> None:
        """`bulk_create(objs)`; with `update_conflicts_on`, an upsert that updates `update_fields`."""
        objs = list(objs)
        if not objs:
            return
        model = type(objs[0])
        queryset = model._base_manager.using(self._db(model))
        opts = model._meta
        unique = [opts.get_field(opts.pk.name if name == "pk" else name) for name in update_conflicts_on]
        updated = [opts.get_field(name) for name in update_fields]
        on_conflict = queryset._check_bulk_create_options(False, bool(unique), updated or None, unique or None)
        with_pk, without_pk = queryset._prepare_for_bulk_create(objs)
        if with_pk and without_pk:
            raise ValueError("A batched insert is all objects with a primary key or all without.")
        fields = [f for f in opts.concrete_fields if not f.generated]
        if without_pk:
            fields = [f for f in fields if not isinstance(f, AutoField)]

        def compile_insert(connection):
            query = sql.InsertQuery(model, on_conflict=on_conflict, update_fields=updated, unique_fields=unique)
            query.insert_values(fields, objs)
            compiler = query.get_compiler(connection=connection)
            statements = compiler.as_sql()
            if len(statements) != 1:
                raise ValueError("This insert does not compile to one statement.")
            return statements[0]

        def run():
            queryset.bulk_create(
                objs,
                update_conflicts=bool(unique),
                unique_fields=update_conflicts_on or None,
                update_fields=update_fields or None,
            )
            return len(objs)

        self._writes.append(_Write(model, "insert", run, compile_insert, objs=objs, returns_pks=bool(without_pk)))

    def save(self, obj: Model, fields: Sequence[str]) -> None:
        """`obj.save(update_fields=fields)` of an existing row, its values as they are when sent
        (`auto_now` fields are set then). Saving one instance again adds its fields to the save."""
        model = type(obj)
        concrete = {f.name: f for f in model._meta.local_concrete_fields if not f.primary_key}
        if unknown := [name for name in fields if name not in concrete]:
            raise ValueError(f"Not concrete fields of {model.__name__}: {unknown}")
        for write in self._writes:
            if write.kind == "save" and write.objs[0] is obj:
                write.fields.extend(name for name in fields if name not in write.fields)
                return
        using = self._db(model)
        fields = list(dict.fromkeys(fields))

        row = model._base_manager.using(using).filter(pk=obj.pk)

        def values():
            return [(concrete[name], None, concrete[name].pre_save(obj, False)) for name in fields]

        def compile_update(connection):
            query = row.query.chain(sql.UpdateQuery)
            query.add_update_fields(values())
            return query.get_compiler(connection=connection).as_sql()

        def run():
            return row._update(values())  # what save(update_fields=...) runs for an existing row

        unmatched = DatabaseError(f"Save with update_fields did not affect any rows ({model.__name__}).")
        write = _Write(model, "save", run, compile_update, objs=[obj], unless_matched=unmatched)
        write.fields = fields
        self._writes.append(write)

    def update(self, queryset: QuerySet, *, unless_matched: Exception | None = None, **values: Any) -> None:
        """`queryset.update(**values)` (expressions such as F() allowed; no joins).

        `unless_matched`: the error send() raises when the update matched no row, a guarded write
        (`... WHERE redeemed_count < available_quantity`) whose refusal stops the caller. The
        batch's other writes were sent with it: the caller's transaction rolls them back.
        """
        queryset = queryset.using(self._db(queryset.model)) if self.using else queryset

        def compile_update(connection):
            query = queryset.query.chain(sql.UpdateQuery)
            query.add_update_values(values)
            return query.get_compiler(connection=connection).as_sql()

        run = lambda: queryset.update(**values)  # noqa: E731
        self._writes.append(_Write(queryset.model, "update", run, compile_update, unless_matched=unless_matched))

    def delete(self, queryset: QuerySet) -> None:
        """`queryset.delete()` of rows nothing refers to through Python-side cascades."""
        using = self._db(queryset.model)
        queryset = queryset.using(using).order_by()
        if not Collector(using=using, origin=queryset).can_fast_delete(queryset):
            raise ValueError(f"{queryset.model.__name__} rows cannot be deleted in a batch: they cascade.")

        def compile_delete(connection):
            query = queryset.query.clone()
            query.__class__ = sql.DeleteQuery
            return query.get_compiler(connection=connection).as_sql()

        self._writes.append(_Write(queryset.model, "delete", lambda: queryset._raw_delete(using) or 0, compile_delete))

    # --- Sending ---------------------------------------------------------------------------

    def send(self) -> list[int]:
        """Run the collected writes (module docstring); the rows each matched, in order."""
        writes, self._writes = self._writes, []
        if not writes:
            return []
        using = self._db(writes[0].model)
        connection = connections[using]
        _refuse_a_row_written_twice(writes)
        if connection.vendor == "postgresql" and len(writes) > 1:
            counts = self._send_as_one_statement(writes, connection)
        else:
            counts = []
            for write in writes:  # a guarded write's refusal stops the rest
                counts.append(write.run())
                if write.unless_matched is not None and counts[-1] < 1:
                    raise write.unless_matched
        for write, count in zip(writes, counts, strict=True):
            if write.unless_matched is not None and count < 1:
                raise write.unless_matched
            for obj in write.objs if write.kind == "insert" else ():
                obj._state.adding = False
                obj._state.db = using
        return counts

    def _send_as_one_statement(self, writes: list[_Write], connection) -> list[int]:
        parts, params, outputs = [], [], []
        for index, write in enumerate(writes):
            try:
                statement, statement_params = write.compile(connection)
            except EmptyResultSet:  # an update or delete of `pk__in=[]`: matches nothing, sends nothing
                outputs.append("0")
                continue
            pk = write.model._meta.pk
            parts.append(f"w{index} AS ({statement} RETURNING {connection.ops.quote_name(pk.column)})")
            params.extend(statement_params)
            column = f"w{index}.{connection.ops.quote_name(pk.column)}"
            aggregate = f"array_agg({column})" if write.returns_pks else "count(*)"
            outputs.append(f"(SELECT {aggregate} FROM w{index})")
        query = ("WITH " + ", ".join(parts) + " " if parts else "") + "SELECT " + ", ".join(outputs)
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            row = cursor.fetchone()
        counts = []
        for write, value in zip(writes, row, strict=True):
            if write.returns_pks:
                pks = value or []
                if len(pks) != len(write.objs):
                    raise DatabaseError(f"{write.model.__name__}: {len(pks)} rows inserted for {len(write.objs)}.")
                for obj, pk in zip(write.objs, pks, strict=True):
                    obj.pk = pk
                counts.append(len(pks))
            else:
                counts.append(value)
        return counts


@contextmanager
def batched(writes: WriteBatch | None) -> Iterator[WriteBatch]:
    """The caller's batch to add to, or (None) a batch of this block's own, sent when it ends.

    How a service that other services compose takes part in their batch, and still writes on its
    own when called alone: `with batched(writes) as batch: batch.insert(...)`. Nothing is sent
    when the block raises.
    """
    if writes is not None:
        yield writes
        return
    batch = WriteBatch()
    yield batch
    batch.send()


def _refuse_a_row_written_twice(writes: list[_Write]) -> None:
    """Inserts and saves name their rows: one row in two of them is a caller's mistake (in one
    PostgreSQL statement the second write would not see the first)."""
    seen: set[tuple[type[Model], Any]] = set()
    for write in writes:
        for obj in write.objs if not write.returns_pks else ():
            key = (write.model, obj.pk)
            if key in seen:
                raise ValueError(f"{write.model.__name__} {obj.pk} is written twice in one batch.")
            seen.add(key)
