"""Results (one per run, country and sample), their visibility counters, and batch runs.

Storing a result is idempotent on (run_id, run_country, sample): ``INSERT ... ON CONFLICT DO NOTHING
RETURNING``, and only when nothing was inserted a read of the row already there (at most two
statements). A retried store task therefore never makes a second row, and never counts twice: an
analysed answer's visibility counters (one row per brand for its day, one for all days), a grounded
answer's sources counters and any answer's cost counters (its workspace's day and all days, under
its run's monitor) are added only when its result is inserted. On PostgreSQL that is the same
statement (data-modifying CTEs); on SQLite, one transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, String, bindparam, column, exists, func, select, true, tuple_, update
from sqlalchemy.engine import Connection

from prompter.analytics.costs import COST_COUNTERS, answer_cost
from prompter.analytics.sources import answer_sources
from prompter.analytics.visibility import ALL_DAYS, VISIBILITY_COUNTERS, answer_tallies
from prompter.db.dialects import as_utc, dml
from prompter.db.engine import run_with_reconnect, transaction
from prompter.db.schema import (
    COST_CELL,
    SOURCE_CELL,
    SOURCE_COUNTERS,
    VISIBILITY_CELL,
    JsonType,
)
from prompter.db.schema import cost_counts as cc
from prompter.db.schema import prompt_results as r
from prompter.db.schema import prompt_runs as runs
from prompter.db.schema import prompt_templates as t
from prompter.db.schema import source_counts as sc
from prompter.db.schema import visibility_counts as vc

_INSERTED = list(r.c)
# The full provider exchange (the row's own JSON before 0013, else where its payload is): read only
# when asked for.
_PAYLOADS = ("request", "response", "payload_key", "payload_sha256")
_RESULT_KEY = ["run_id", "run_country", "sample"]
_EXISTING = select(r.c.id, r.c.created_at, r.c.status).where(
    *(r.c[name] == bindparam(name) for name in _RESULT_KEY)
)


def _insert(dialect: Any) -> Any:
    return (
        dialect.insert(r)
        .values({c.name: bindparam(c.name, type_=c.type) for c in _INSERTED})
        .on_conflict_do_nothing(index_elements=_RESULT_KEY)
        .returning(r.c.id, r.c.created_at, r.c.status)
    )


_RUN_INSERT = runs.insert().values({c.name: bindparam(f"run_{c.name}", type_=c.type) for c in runs.c})


def counter_rows(
    values: Mapping[str, Any], analysis: Mapping[str, Any] | None, sign: int = 1
) -> list[dict[str, Any]]:
    """The visibility counter rows an analysed answer adds (``sign`` -1: takes away), one per brand
    for its UTC day and one for all days, in key order (concurrent stores lock rows in one order)."""
    if not analysis or values.get("status", "succeeded") != "succeeded":
        return []
    created = as_utc(values["created_at"])
    assert created is not None
    branded = bool(analysis.get("branded_prompt"))
    grounding = values.get("grounding")
    searched = bool(grounding and grounding.get("searched"))
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for brand, primary, tally in answer_tallies(analysis, searched):
        for day in (created.date().isoformat(), ALL_DAYS):
            cell = {
                "template_id": values["template_id"],
                "provider": values["provider"],
                "model_id": values["model_id"],
                "grounded": grounding is not None,
                "provider_version_key": values["provider_version_key"],
                "run_country": values["run_country"],
                "day": day,
                "brand": brand,
                "is_primary": primary,
                "branded_prompt": branded,
            }
            key = tuple(cell[name] for name in VISIBILITY_CELL)
            row = rows.setdefault(key, {**cell, **dict.fromkeys(VISIBILITY_COUNTERS, 0)})
            for name in VISIBILITY_COUNTERS:
                row[name] += sign * getattr(tally, name)
    return [rows[key] for key in sorted(rows, key=repr)]


def source_rows(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sources counter rows a successful grounded answer adds: its cell's entries
    (:func:`answer_sources`) for its UTC day and for all days, in key order."""
    if values.get("status", "succeeded") != "succeeded":
        return []
    tallies = answer_sources(values.get("grounding"))
    if not tallies:
        return []
    created = as_utc(values["created_at"])
    assert created is not None
    cell = {name: values[name] for name in ("template_id", "provider", "model_id", "run_country")}
    cell["provider_version_key"] = values["provider_version_key"]
    rows = [
        {
            **cell,
            "day": day,
            "kind": tally.kind,
            "value": tally.value,
            **{n: getattr(tally, n) for n in SOURCE_COUNTERS},
        }
        for day in (created.date().isoformat(), ALL_DAYS)
        for tally in tallies
    ]
    return sorted(rows, key=lambda row: tuple(row[name] for name in SOURCE_CELL))


def cost_rows(values: Mapping[str, Any], monitor_id: str | None = None) -> list[dict[str, Any]]:
    """The cost counter rows an answer adds (:func:`answer_cost`; none for a failure without one):
    its workspace, provider and requested model for all days and for its UTC day, in key order.
    ``monitor_id``: the monitor that started its run ('' for none); None leaves it to the store
    statement, which reads it from the run row (``run_id``)."""
    tally = answer_cost(values.get("status", "succeeded"), values.get("usage"), values.get("cost_usd"))
    if tally is None:
        return []
    created = as_utc(values["created_at"])
    assert created is not None
    cell = {name: values[name] for name in ("org_id", "workspace_id", "provider", "model_id", "run_id")}
    return [
        {**cell, "day": day, "monitor_id": monitor_id, **tally.counters()}
        for day in (ALL_DAYS, created.date().isoformat())
    ]


# The two counter tables: their key and their counters (the store adds a result's rows to both).
_COUNTERS = {
    "counts": (vc, VISIBILITY_CELL, VISIBILITY_COUNTERS),
    "sources": (sc, SOURCE_CELL, SOURCE_COUNTERS),
}


def _counts_source(name: str) -> Any:
    """PostgreSQL: the counter rows of one table, sent as one jsonb array parameter, as a table."""
    table = _COUNTERS[name][0]
    return (
        func.jsonb_to_recordset(bindparam(name, type_=JsonType))
        .table_valued(*(column(c.name, c.type) for c in table.c))
        .render_derived(name=name, with_types=True)
    )


def _add_counts(dialect: Any, name: str, source: Any = None, *where: Any) -> Any:
    """``INSERT`` counter rows, adding to the rows already there (``source``: rows from a query)."""
    table, key, counters = _COUNTERS[name]
    insert = dialect.insert(table)
    if source is not None:
        ordered = select(*source.c).where(*where).order_by(*(source.c[k] for k in key))
        insert = insert.from_select([c.name for c in table.c], ordered)
    return insert.on_conflict_do_update(
        index_elements=list(key),
        set_={c: table.c[c] + insert.excluded[c] for c in counters},
    )


def _run_monitor(run_id: Any, given: Any) -> Any:
    """The monitor a cost row counts under: the one given, else its run row's, else '' (none)."""
    of_run = select(runs.c.monitor_id).where(runs.c.id == run_id).scalar_subquery()
    return func.coalesce(given, of_run, "")


def _add_costs(dialect: Any, source: Any = None, *where: Any) -> Any:
    """``INSERT`` cost counter rows adding to those there: from ``source`` (PostgreSQL: a jsonb array
    as a table), else one row of bound parameters (SQLite: executemany). A row's ``monitor_id`` is
    resolved by :func:`_run_monitor` from its ``run_id``."""
    insert = dialect.insert(cc)
    if source is not None:
        columns = [
            _run_monitor(source.c.run_id, source.c.monitor_id).label(c.name)
            if c.name == "monitor_id"
            else source.c[c.name]
            for c in cc.c
        ]
        ordered = select(*columns).where(*where).order_by(*(source.c[k] for k in COST_CELL[:-1]))
        insert = insert.from_select([c.name for c in cc.c], ordered)
    else:
        given = bindparam("monitor_id", type_=String())
        insert = insert.values(
            {
                c.name: _run_monitor(bindparam("run_id"), given)
                if c.name == "monitor_id"
                else bindparam(c.name, type_=c.type)
                for c in cc.c
            }
        )
    return insert.on_conflict_do_update(
        index_elements=list(COST_CELL),
        set_={c: cc.c[c] + insert.excluded[c] for c in COST_COUNTERS},
    )


def _costs_source() -> Any:
    """PostgreSQL: an answer's cost rows, sent as one jsonb array parameter, as a table."""
    return (
        func.jsonb_to_recordset(bindparam("costs", type_=JsonType))
        .table_valued(*(column(c.name, c.type) for c in cc.c), column("run_id", r.c.run_id.type))
        .render_derived(name="costs", with_types=True)
    )


@functools.cache
def _costs_statement(dialect_name: str) -> Any:
    """SQLite: add one answer's cost rows (executemany)."""
    return _add_costs(dml(dialect_name))


@functools.cache
def _insert_statement(dialect_name: str) -> Any:
    return _insert(dml(dialect_name))


@functools.cache
def _counts_statement(dialect_name: str, name: str = "counts") -> Any:
    """Add counter rows: on PostgreSQL in one statement (a jsonb array); on SQLite, executemany."""
    if dialect_name == "postgresql":
        return _add_counts(dml(dialect_name), name, _counts_source(name))
    return _add_counts(dml(dialect_name), name)


@functools.cache
def _store_statement(with_run: bool) -> Any:
    """PostgreSQL, one statement: the result, its visibility, sources and cost counters only when
    the result was inserted, and for a single run its run row (data-modifying CTEs)."""
    dialect = dml("postgresql")
    stored = _insert(dialect).cte("stored")
    inserted = exists(select(stored.c.id))
    statement = select(stored.c.id, stored.c.created_at, stored.c.status)
    for name in _COUNTERS:
        statement = statement.add_cte(_add_counts(dialect, name, _counts_source(name), inserted).cte(name))
    statement = statement.add_cte(_add_costs(dialect, _costs_source(), inserted).cte("costs"))
    return statement.add_cte(_RUN_INSERT.cte("run")) if with_run else statement


@functools.cache
def _reanalysis_page_statement() -> Any:
    """A page of a template's successful results with what their analysis is made from, locked."""
    columns = [
        r.c[name]
        for name in (
            "id",
            "template_id",
            "provider",
            "model_id",
            "provider_version_key",
            "run_country",
            "status",
            "created_at",
            "request",
            "response",
            "payload_key",
            "payload_sha256",
            "answer_text",
            "answer_chars",
            "analysis",
            "grounding",
        )
    ]
    return (
        select(*columns)
        .where(
            r.c.template_id == bindparam("template_id"),
            r.c.status == "succeeded",
            r.c.id > bindparam("after"),
        )
        .order_by(r.c.id)
        .limit(bindparam("limit"))
        .with_for_update()
    )


@functools.cache
def _analyses_update_statement() -> Any:
    """PostgreSQL: store a page's new analyses in one statement (a jsonb array of {result_id,
    analysis})."""
    source = (
        func.jsonb_to_recordset(bindparam("analyses", type_=JsonType))
        .table_valued(column("result_id", r.c.id.type), column("analysis", JsonType))
        .render_derived(name="analyses", with_types=True)
    )
    return update(r).values(analysis=source.c.analysis).where(r.c.id == source.c.result_id)


@functools.cache
def _unmoved_page_statement() -> Any:
    """A page of results whose request and response are still in the row, in id order."""
    columns = ("id", "org_id", "workspace_id", "created_at", "request", "response", "answer_text")
    return (
        select(*(r.c[name] for name in columns))
        .where(
            r.c.id > bindparam("after"),
            r.c.payload_key.is_(None),
            (r.c.request.is_not(None)) | (r.c.response.is_not(None)),
        )
        .order_by(r.c.id)
        .limit(bindparam("limit"))
    )


@functools.cache
def _moved_statement() -> Any:
    """One row's payload moved out: its key and SHA-256, its JSON nulled, its answer's text cut;
    only if no run has moved it meanwhile."""
    names = ("payload_key", "payload_sha256", "request", "response", "answer_text", "answer_chars")
    return (
        update(r)
        .where(r.c.id == bindparam("result_id"), r.c.payload_key.is_(None))
        .values({name: bindparam(name, type_=r.c[name].type) for name in names})
    )


def _row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for name in ("created_at", "finished_at"):
        if name in data:
            data[name] = as_utc(data[name])
    return data


class ResultStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def store(self, values: dict[str, Any], run: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Store a result and its counters unless (run_id, run_country, sample) already has one;
        ``(row, inserted)``. ``run``: a single run's (finished) run row, written with it (its run id
        is new, so its result is always inserted)."""
        params = {c.name: values.get(c.name) for c in _INSERTED}
        counts = counter_rows(values, values.get("analysis"))
        sources = source_rows(values)
        # a run written with its result is not there yet for the statement to read its monitor
        costs = cost_rows(values, (run.get("monitor_id") or "") if run is not None else None)
        if run is not None:
            params.update({f"run_{c.name}": run.get(c.name) for c in runs.c})
        postgres = self.engine.dialect.name == "postgresql"

        def inserted(conn: Connection) -> Any:
            if postgres:
                counted = {**params, "counts": counts, "sources": sources, "costs": costs}
                return conn.execute(_store_statement(run is not None), counted).first()
            with transaction(conn):
                if run is not None:
                    conn.execute(_RUN_INSERT, params)
                row = conn.execute(_insert_statement("sqlite"), params).first()
                if row is not None and counts:
                    conn.execute(_counts_statement("sqlite"), counts)
                if row is not None and sources:
                    conn.execute(_counts_statement("sqlite", "sources"), sources)
                if row is not None and costs:
                    conn.execute(_costs_statement("sqlite"), costs)
                return row

        def work(conn: Connection) -> tuple[dict[str, Any], bool]:
            row = inserted(conn)
            if row is not None:
                return _row(row), True
            return _row(conn.execute(_EXISTING, params).one()), False

        return run_with_reconnect(self.engine, work)

    def store_failed(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store failed results recorded without an answer (no counters: such a failure adds none, not
        even a cost: it has no usage) unless their (run_id, run_country,
        sample) already has a row; how many were inserted. Multi-row ``INSERT ... ON CONFLICT DO
        NOTHING`` statements, safe to repeat: concurrent callers never make a second row for an item."""
        if not rows:
            return 0
        params = [{c.name: row.get(c.name) for c in _INSERTED} for row in rows]

        def work(conn: Connection) -> int:
            return len(conn.execute(_insert_statement(conn.dialect.name), params).all())

        return run_with_reconnect(self.engine, work)

    def recorded(self, run_id: str) -> set[tuple[str, int]]:
        """The (country, sample) items of a run that have a stored row, succeeded or failed."""
        stmt = select(r.c.run_country, r.c.sample).where(r.c.run_id == run_id)
        return run_with_reconnect(
            self.engine, lambda conn: {(country, int(sample)) for country, sample in conn.execute(stmt)}
        )

    def unmoved_page(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` results after ``after`` (in id order) whose request and response are still
        in the row (stored before 0013_result_payloads and not moved yet)."""
        params = {"after": after or "", "limit": limit}
        return run_with_reconnect(
            self.engine, lambda conn: [_row(x) for x in conn.execute(_unmoved_page_statement(), params)]
        )

    def set_payloads(self, moved: Sequence[Mapping[str, Any]]) -> int:
        """Record where rows' payloads went (:func:`_moved_statement` each, one transaction); how many
        rows changed (a row another run moved first is left as it is)."""
        if not moved:
            return 0

        def work(conn: Connection) -> int:
            with transaction(conn):
                return sum(conn.execute(_moved_statement(), dict(row)).rowcount for row in moved)

        return run_with_reconnect(self.engine, work)

    def reanalyse_page(
        self,
        template_id: str,
        after: str | None,
        limit: int,
        reanalyse: Callable[[dict[str, Any]], dict[str, Any] | None],
        enough: Callable[[], bool] = lambda: False,
        prepare: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> tuple[int, int, str | None]:
        """Re-analyse a page of a template's successful results, in id order after ``after``, in one
        transaction: the page's rows are locked (PostgreSQL ``FOR UPDATE``; SQLite's write lock),
        ``reanalyse`` gives each row's new analysis (None: keep it), and the new analyses are stored
        with their counters moved from the old analysis to the new one. The page ends early, after
        the row with which ``enough()`` becomes true; ``prepare`` gets the page's rows first (to read
        their payloads back). Returns (changed, read, the last id read, or None after the last page)."""
        params = {"template_id": template_id, "after": after or "", "limit": limit}

        def work(conn: Connection) -> tuple[int, int, str | None]:
            with transaction(conn):
                rows = [dict(row._mapping) for row in conn.execute(_reanalysis_page_statement(), params)]
                if prepare is not None:
                    prepare(rows)
                changed: list[dict[str, Any]] = []
                deltas: dict[tuple[Any, ...], dict[str, Any]] = {}
                read = 0
                for row in rows:
                    if read and enough():
                        break
                    read += 1
                    new = reanalyse(row)
                    if new is None:
                        continue
                    changed.append({"result_id": row["id"], "analysis": new})
                    for sign, analysis in ((-1, row["analysis"]), (1, new)):
                        for counted in counter_rows(row, analysis, sign):
                            key = tuple(counted[name] for name in VISIBILITY_CELL)
                            total = deltas.setdefault(
                                key, {**counted, **dict.fromkeys(VISIBILITY_COUNTERS, 0)}
                            )
                            for name in VISIBILITY_COUNTERS:
                                total[name] += counted[name]
                if changed:
                    self._store_analyses(conn, changed)
                    moved = [d for _, d in sorted(deltas.items(), key=lambda item: repr(item[0]))]
                    self.add_counts(conn, [d for d in moved if any(d[n] for n in VISIBILITY_COUNTERS)])
            last = rows[read - 1]["id"] if read < len(rows) or len(rows) == limit else None
            return len(changed), read, last

        return run_with_reconnect(self.engine, work)

    @staticmethod
    def _store_analyses(conn: Connection, changed: list[dict[str, Any]]) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(_analyses_update_statement(), {"analyses": changed})
        else:
            update_one = (
                update(r).where(r.c.id == bindparam("result_id")).values(analysis=bindparam("analysis"))
            )
            conn.execute(update_one, changed)

    @staticmethod
    def add_counts(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add (or, with negative values, take away) counter rows, on ``conn``'s transaction."""
        if not rows:
            return
        statement = _counts_statement(conn.dialect.name)
        conn.execute(statement, {"counts": list(rows)} if conn.dialect.name == "postgresql" else list(rows))

    def for_run(self, org_id: str, run_id: str) -> list[dict[str, Any]]:
        stmt = (
            select(
                r.c.id,
                r.c.run_country,
                r.c.sample,
                r.c.status,
                r.c.error_code,
                r.c.error_message,
                r.c.version_id,
                r.c.provider_version_key,
                r.c.usage,
                r.c.cost_usd,
                r.c.created_at,
            )
            .where(r.c.org_id == org_id, r.c.run_id == run_id)
            .order_by(r.c.run_country, r.c.sample)
        )
        return run_with_reconnect(self.engine, lambda conn: [_row(x) for x in conn.execute(stmt)])

    def counts(self, run_id: str) -> dict[str, int]:
        stmt = select(r.c.status, func.count()).where(r.c.run_id == run_id).group_by(r.c.status)
        return run_with_reconnect(self.engine, lambda conn: {s: int(n) for s, n in conn.execute(stmt)})

    def template_page(self, query: tuple[Any, dict[str, Any]]) -> list[dict[str, Any]] | None:
        """A page of an active template's results, newest first, by the statement and parameters
        of :func:`template_page_query`; None when there is no such template in the query's org."""
        stmt, params = query

        def work(conn: Connection) -> list[dict[str, Any]] | None:
            rows = conn.execute(stmt, params).all()
            if not rows:
                return None
            return [_row(x) for x in rows if x.id is not None]

        return run_with_reconnect(self.engine, work)


def template_page_query(
    org_id: str | None,
    template_id: str,
    limit: int,
    country: str | None = None,
    version_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    payloads: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The statement of a results page (see :func:`_template_page_statement`) and its parameters."""
    stmt = _template_page_statement(
        org_id is not None,
        bool(country),
        bool(version_id),
        since is not None,
        until is not None,
        after is not None,
        payloads,
    )
    params = {
        "template_id": template_id,
        "org_id": org_id,
        "limit": limit,
        "country": country,
        "version_id": version_id,
        "since": since,
        "until": until,
        "after_created_at": after[0] if after else None,
        "after_id": after[1] if after else None,
    }
    return stmt, params


@functools.cache
def _template_page_statement(
    org_given: bool,
    country: bool,
    version_id: bool,
    since: bool,
    until: bool,
    after: bool,
    payloads: bool,
) -> Any:
    """One statement: the template row, outer-joined to the page of its results, so the existence
    check costs no round trip of its own (a template without results gives one row of NULLs).

    Results are found by ``template_id`` alone (a template's results are stored in its own org),
    newest first, keyset-paginated on (created_at, id): each filter has an index in that order
    (0004_result_indexes). The request and response bodies are read only with ``payloads``. Built
    once per combination of filters, with bound parameters: building the statement cost more than
    running it.
    """
    columns = [c for c in r.c if payloads or c.name not in _PAYLOADS]
    page = select(*columns).where(r.c.template_id == bindparam("template_id"))
    if country:
        page = page.where(r.c.run_country == bindparam("country"))
    if version_id:
        page = page.where(r.c.version_id == bindparam("version_id"))
    if since:
        page = page.where(r.c.created_at >= bindparam("since", type_=r.c.created_at.type))
    if until:
        page = page.where(r.c.created_at < bindparam("until", type_=r.c.created_at.type))
    if after:
        page = page.where(
            tuple_(r.c.created_at, r.c.id)
            < tuple_(bindparam("after_created_at", type_=r.c.created_at.type), bindparam("after_id"))
        )
    found = page.order_by(r.c.created_at.desc(), r.c.id.desc()).limit(bindparam("limit")).subquery("page")
    tenancy = (t.c.org_id == bindparam("org_id"),) if org_given else ()
    return (
        select(found)
        .select_from(t.outerjoin(found, true()))
        .where(t.c.id == bindparam("template_id"), t.c.deleted_at.is_(None), *tenancy)
        .order_by(found.c.created_at.desc(), found.c.id.desc())
    )


class RunStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, values: dict[str, Any]) -> None:
        run_with_reconnect(self.engine, lambda conn: conn.execute(runs.insert().values(**values)))

    def create_once(self, values: dict[str, Any]) -> bool:
        """Insert the run unless its id exists; whether it was inserted."""
        insert = dml(self.engine.dialect.name).insert(runs).values(**values)
        stmt = insert.on_conflict_do_nothing(index_elements=["id"]).returning(runs.c.id)
        return run_with_reconnect(self.engine, lambda conn: conn.execute(stmt).first() is not None)

    def restart(self, run_id: str) -> None:
        """A run whose execution did not start is running again (it is being started now)."""
        stmt = update(runs).where(runs.c.id == run_id).values(status="running", finished_at=None)
        run_with_reconnect(self.engine, lambda conn: conn.execute(stmt))

    def set_execution(self, run_id: str, execution_arn: str) -> None:
        stmt = update(runs).where(runs.c.id == run_id).values(execution_arn=execution_arn)
        run_with_reconnect(self.engine, lambda conn: conn.execute(stmt))

    def set_provider_batch(self, run_id: str, batch_id: str, status: str) -> None:
        """The provider's batch the run's answers went to, and the status it last reported."""
        stmt = (
            update(runs)
            .where(runs.c.id == run_id)
            .values(provider_batch_id=batch_id[:200], provider_batch_status=status[:32])
        )
        run_with_reconnect(self.engine, lambda conn: conn.execute(stmt))

    def finish(self, run_id: str, status: str, succeeded: int, failed: int, when: datetime) -> None:
        stmt = (
            update(runs)
            .where(runs.c.id == run_id)
            .values(status=status, succeeded=succeeded, failed=failed, finished_at=when)
        )
        run_with_reconnect(self.engine, lambda conn: conn.execute(stmt))

    def get(self, org_id: str | None, run_id: str) -> dict[str, Any] | None:
        """The run with this id in ``org_id`` (None: in whatever org holds it)."""
        owned = () if org_id is None else (runs.c.org_id == org_id,)
        stmt = select(runs).where(runs.c.id == run_id, *owned)

        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(stmt).first()
            return _row(row) if row is not None else None

        return run_with_reconnect(self.engine, work)
