"""Scale (SPEC §7): every list, results and versions query at N rows against the same query at 1,000
rows, and the VersionSweep's largest state and throughput at 300 and 3,000 targets.

Two databases hold the same shape at two sizes (1,000 rows, and 100,000 by default or 1,000,000 with
``BENCH_SCALE=large``), generated server-side with ``generate_series``:

- one workspace holding every template (the list's worst case: a deep page is far down one index);
- one template holding every result (the results' worst case), over 100 versions and 26 countries,
  five minutes apart; a version belongs to one country, so a country + version filter finds rows;
- versions: the big template's 100, and the rest spread over the other templates;
- visibility counters for the big template's results, as the store statement keeps them: five
  brands per answer, a row per brand and cell for its day and one for all days;
- sources counters likewise: each answer grounded, citing three of 60 domains, running two of 200
  queries;
- a brand's workspace (the workspace reports' subject): the same 24 templates at both sizes, in one
  org with the big workspace, whose answers grow with the size. ``rows`` answers, five minutes apart,
  are dealt to the templates and four countries in turn and counted as the store counts them (five
  brands, a row per cell and day and one for all days); the model changes key twice, at a third and
  two thirds of the days, so every template answers under three keys (their versions first seen
  minutes apart): a workspace report always has 24 templates to pool, their counters holding 1,000
  answers or 100,000. A workspace's size is its templates: a report reads every one of them, so
  what must not matter is how many answers they hold and how big the rest of the database is.
  The same answers are in the brand workspace's cost counters, as the store counts them (a row per
  day, model and monitor, and one for all days): two models and four monitors (three and none) in
  turn, every tenth answer unpriced, every third searched; its costs report reads a day range or
  the all-days rows, whatever the number of days.

Each query runs through the store the function uses (SQLAlchemy, pg8000, the server), warm, the
two sizes alternating; the figure is the ratio of the medians. Pages are 10 rows: at 1,000 rows
every filter below still fills a page, so both sizes return the same number of rows.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import Figure, Measured, environment, migrated, quiet

SMALL = 1_000
SIZES = {"default": 100_000, "large": 1_000_000}
PAGE = 10
REPEATS = 41
VERSIONS = 100
COUNTRIES = 26
ORG = "bench"
WORKSPACE = "ws-scale"
BIG = "big-template"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)  # between two results of the big template
REPORT_WORKSPACE = "ws-brand"
REPORT_TEMPLATES = 24
REPORT_COUNTRIES = ("US", "DE", "FR", "GB")
REPORT_KEYS = 3
ANSWERS_PER_DAY = 288  # five minutes apart
SWEEP_SIZES = (300, 3000)
SWEEP_TARGET = 1.1  # the largest state at 3,000 targets over the largest at 300
TEMPLATE_COLUMNS = (
    "id, org_id, workspace_id, name, provider, model_id, config_hash, canonical_config,"
    " system_instructions, user_prompt_template, country_set, inference_params, tools_spec, created_at"
)


def _scope() -> Any:
    from prompter.scope import Scope

    return Scope(org_id=ORG)


def scale_rows() -> tuple[str, int]:
    name = os.environ.get("BENCH_SCALE", "default").lower()
    if name not in SIZES:
        raise SystemExit(f"BENCH_SCALE must be one of {', '.join(SIZES)}, not {name!r}")
    return name, SIZES[name]


def populate(conn: Any, rows: int) -> None:
    """``rows`` templates in one workspace, ``rows`` results of one template, ``rows`` versions."""
    sql = conn.exec_driver_sql
    sql(
        f"INSERT INTO prompt_templates ({TEMPLATE_COLUMNS})"
        " SELECT CASE WHEN g = 1 THEN %s ELSE 't-' || lpad(g::text, 8, '0') END, %s, %s, 'n', 'openai',"
        " 'gpt-4o', md5(g::text) || md5(g::text), '{}', '', 'p', '[\"US\"]', '{}', '[]',"
        " timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, %s) AS g",
        (BIG, ORG, WORKSPACE, rows),
    )
    sql(
        "INSERT INTO prompt_versions (id, org_id, workspace_id, template_id, provider, model_id,"
        " provider_version_key, fingerprint_captured_at, first_seen_at, last_seen_at)"
        " SELECT 'v-' || lpad(g::text, 8, '0'), %s, %s,"
        " CASE WHEN g < %s THEN %s ELSE 't-' || lpad((2 + mod(g, %s - 1))::text, 8, '0') END,"
        " 'openai', 'gpt-4o', 'fp_' || g, now(), timestamptz '2026-01-01' + g * interval '1 minute',"
        " now() FROM generate_series(0, %s - 1) AS g",
        (ORG, WORKSPACE, VERSIONS, BIG, rows, rows),
    )
    sql(
        "INSERT INTO prompt_results (id, org_id, workspace_id, template_id, version_id, run_id,"
        " run_country, status, provider, model_id, provider_version_key, request, response,"
        " used_grounding, created_at)"
        " SELECT md5(g::text), %s, %s, %s, 'v-' || lpad(mod(g, %s)::text, 8, '0'), md5('run' || g),"
        " chr(65 + mod(mod(g, %s), %s)) || 'X', 'succeeded', 'openai', 'gpt-4o', 'fp',"
        " jsonb_build_object('messages', repeat('x', 200)), jsonb_build_object('choices', g), false,"
        " timestamptz '2026-01-01' + g * interval '5 minutes' FROM generate_series(1, %s) AS g",
        (ORG, WORKSPACE, BIG, VERSIONS, VERSIONS, COUNTRIES, rows),
    )
    # each result's version key is its version's ('fp_<n>'); each brand is mentioned in about half
    # of the answers, at a rank of 1 to 5
    sql(
        "UPDATE prompt_results SET provider_version_key = 'fp_' || ltrim(substr(version_id, 3), '0')"
        " WHERE template_id = %s AND version_id <> 'v-00000000'",
        (BIG,),
    )
    sql("UPDATE prompt_results SET provider_version_key = 'fp_0' WHERE version_id = 'v-00000000'")
    sql(
        "INSERT INTO visibility_counts (template_id, day, provider, model_id, provider_version_key,"
        " run_country, brand, is_primary, branded_prompt, n, mentioned, top3, rank_sum)"
        " SELECT r.template_id, d.day, r.provider, r.model_id, r.provider_version_key, r.run_country,"
        " b.brand, b.brand = 'Brand 0', false, count(*), sum(m.mentioned), sum(m.top3), sum(m.rank)"
        " FROM prompt_results r"
        " CROSS JOIN (VALUES ('Brand 0'), ('Brand 1'), ('Brand 2'), ('Brand 3'), ('Brand 4')) AS b(brand)"
        " CROSS JOIN LATERAL (VALUES (to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')), (''))"
        "   AS d(day)"
        " CROSS JOIN LATERAL (SELECT mod(h, 2) AS mentioned, CASE WHEN mod(h, 2) = 1 AND mod(h, 5) < 3"
        "   THEN 1 ELSE 0 END AS top3, CASE WHEN mod(h, 2) = 1 THEN 1 + mod(h, 5) ELSE 0 END AS rank"
        "   FROM (SELECT abs(hashtext(r.id || b.brand)) AS h) AS hashed) AS m"
        " WHERE r.template_id = %s"
        " GROUP BY r.template_id, d.day, r.provider, r.model_id, r.provider_version_key, r.run_country,"
        " b.brand",
        (BIG,),
    )
    # sources counters: every result is a grounded answer citing 3 of 60 domains and running 2 of
    # 200 queries, counted per cell for its day and for all days
    sql(
        "INSERT INTO source_counts (template_id, day, provider, model_id, provider_version_key,"
        " run_country, kind, value, answers, searched, citations, weight)"
        " SELECT r.template_id, d.day, r.provider, r.model_id, r.provider_version_key, r.run_country,"
        " e.kind, e.value, count(*), sum(e.searched), sum(e.citations),"
        " CASE WHEN e.kind = 'domain' THEN sum(e.citations) ELSE count(*) END"
        " FROM prompt_results r"
        " CROSS JOIN LATERAL (VALUES (to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')), (''))"
        "   AS d(day)"
        " CROSS JOIN LATERAL (SELECT abs(hashtext(r.id)) AS h) AS hashed"
        " CROSS JOIN LATERAL (VALUES ('answer', '', 1, 4),"
        "   ('domain', 'site' || mod(h, 60) || '.example', 0, 2),"
        "   ('domain', 'site' || mod(h / 60 + 1, 60) || '.example', 0, 1),"
        "   ('domain', 'site' || mod(h / 3600 + 2, 60) || '.example', 0, 1),"
        "   ('query', 'query ' || mod(h, 200), 0, 0), ('query', 'query ' || mod(h / 200 + 1, 200), 0, 0))"
        "   AS e(kind, value, searched, citations)"
        " WHERE r.template_id = %s"
        " GROUP BY r.template_id, d.day, r.provider, r.model_id, r.provider_version_key, r.run_country,"
        " e.kind, e.value",
        (BIG,),
    )
    populate_workspace(conn, rows)
    populate_costs(conn, rows)
    sql("ANALYZE")


def report_days(rows: int) -> int:
    """The days the brand workspace's answers span."""
    return rows // ANSWERS_PER_DAY + 1


def report_key_start(rows: int, key: int) -> int:
    """The first day answered under key ``key`` (1-based): key = 1 + 3 * day // days."""
    days = report_days(rows)
    return -(-(key - 1) * days // REPORT_KEYS)


def populate_workspace(conn: Any, rows: int) -> None:
    """The brand workspace: its templates, their versions and the visibility counters of ``rows``
    answers (see the module docstring)."""
    sql = conn.exec_driver_sql
    sql(
        f"INSERT INTO prompt_templates ({TEMPLATE_COLUMNS})"
        " SELECT 'w-' || lpad(g::text, 4, '0'), %s, %s, 'n', 'openai', 'gpt-4o', md5('w' || g) || md5('w'),"
        " '{}', '', 'p', '[\"US\"]', '{}', '[]', timestamptz '2026-01-01' + g * interval '1 second'"
        " FROM generate_series(1, %s) AS g",
        (ORG, REPORT_WORKSPACE, REPORT_TEMPLATES),
    )
    days = report_days(rows)
    versions = []
    for key in range(1, REPORT_KEYS + 1):
        first = BASE + timedelta(days=report_key_start(rows, key))
        last = BASE + timedelta(days=report_key_start(rows, key + 1) if key < REPORT_KEYS else days)
        for template in range(1, REPORT_TEMPLATES + 1):
            versions.append(
                (
                    f"wv-{template:04d}-{key}",
                    ORG,
                    REPORT_WORKSPACE,
                    f"w-{template:04d}",
                    f"wk_{key}",
                    first + timedelta(minutes=template),
                    first + timedelta(minutes=template),
                    last,
                )
            )
    sql(
        "INSERT INTO prompt_versions (id, org_id, workspace_id, template_id, provider, model_id,"
        " provider_version_key, fingerprint_captured_at, first_seen_at, last_seen_at)"
        " VALUES (%s, %s, %s, %s, 'openai', 'gpt-4o', %s, %s, %s, %s)",
        versions,
    )
    # answer g: template 1 + g mod 24, country by g / 24 mod 4, key by its day; a brand is mentioned
    # in 40 % of the first key's answers, 60 % of the second's and 80 % of the third's
    countries = ", ".join(f"'{c}'" for c in REPORT_COUNTRIES)
    sql(
        "INSERT INTO visibility_counts (template_id, day, provider, model_id, provider_version_key,"
        " run_country, brand, is_primary, branded_prompt, n, mentioned, top3, rank_sum)"
        " SELECT a.template_id, d.day, 'openai', 'gpt-4o', 'wk_' || a.key, a.country, b.brand,"
        " b.brand = 'Brand 0', false, count(*), sum(m.mentioned), sum(m.top3), sum(m.rank)"
        " FROM (SELECT g, 'w-' || lpad((1 + mod(g, %s))::text, 4, '0') AS template_id,"
        f"   (ARRAY[{countries}])[1 + mod(g / %s, %s)] AS country,"
        "   1 + (%s * (g / %s)) / %s AS key,"
        "   to_char((timestamptz '2026-01-01' + g * interval '5 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        "   AS answer_day FROM generate_series(0, %s - 1) AS g) AS a"
        " CROSS JOIN (VALUES ('Brand 0'), ('Brand 1'), ('Brand 2'), ('Brand 3'), ('Brand 4')) AS b(brand)"
        " CROSS JOIN LATERAL (VALUES (a.answer_day), ('')) AS d(day)"
        " CROSS JOIN LATERAL (SELECT CASE WHEN mod(h, 10) < 2 + 2 * a.key THEN 1 ELSE 0 END AS mentioned,"
        "   CASE WHEN mod(h, 10) < 2 + 2 * a.key AND mod(h, 5) < 3 THEN 1 ELSE 0 END AS top3,"
        "   CASE WHEN mod(h, 10) < 2 + 2 * a.key THEN 1 + mod(h, 5) ELSE 0 END AS rank"
        "   FROM (SELECT abs(hashtext(a.g || b.brand)) AS h) AS hashed) AS m"
        " GROUP BY a.template_id, d.day, a.key, a.country, b.brand",
        (
            REPORT_TEMPLATES,
            REPORT_TEMPLATES,
            len(REPORT_COUNTRIES),
            REPORT_KEYS,
            ANSWERS_PER_DAY,
            days,
            rows,
        ),
    )


def populate_costs(conn: Any, rows: int) -> None:
    """The brand workspace's cost counters of ``rows`` answers (see the module docstring)."""
    conn.exec_driver_sql(
        "INSERT INTO cost_counts (org_id, workspace_id, day, provider, model_id, monitor_id, answers,"
        " unpriced, input_tokens, output_tokens, search_calls, cost_nano_usd)"
        " SELECT %s, %s, d.day, 'openai', a.model_id, a.monitor_id, count(*), sum(a.unpriced),"
        " sum(a.input_tokens), sum(a.output_tokens), sum(a.search_calls), sum(a.cost)"
        " FROM (SELECT CASE WHEN mod(g, 2) = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END AS model_id,"
        "   CASE WHEN mod(g / 2, 4) = 0 THEN '' ELSE 'mon-' || mod(g / 2, 4) END AS monitor_id,"
        "   CASE WHEN mod(g, 10) = 0 THEN 1 ELSE 0 END AS unpriced, 500 + mod(g, 100) AS input_tokens,"
        "   200 + mod(g, 50) AS output_tokens, CASE WHEN mod(g, 3) = 0 THEN 1 ELSE 0 END AS search_calls,"
        "   CASE WHEN mod(g, 10) = 0 THEN 0 ELSE 3250000 + 10 * mod(g, 1000) END AS cost,"
        "   to_char((timestamptz '2026-01-01' + g * interval '5 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        "   AS answer_day FROM generate_series(0, %s - 1) AS g) AS a"
        " CROSS JOIN LATERAL (VALUES (a.answer_day), ('')) AS d(day)"
        " GROUP BY d.day, a.model_id, a.monitor_id",
        (ORG, REPORT_WORKSPACE, rows),
    )


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def _country_of(version: int) -> str:
    return chr(65 + version % COUNTRIES) + "X"


def _version(number: int) -> str:
    return f"v-{number:08d}"


@dataclass(frozen=True)
class Query:
    name: str
    run: Callable[[Any, int], int]  # (stores, rows) → rows returned


def queries() -> list[Query]:
    """The queries the API offers, each with arguments that depend on the database's size."""

    def at(rows: int, fraction: float) -> datetime:
        return BASE + STEP * int(rows * fraction)

    def results(**filters: Any) -> Callable[[Any, int], int]:
        def run(stores: Any, rows: int) -> int:
            from prompter.db.results import template_page_query

            chosen = {k: (v(rows) if callable(v) else v) for k, v in filters.items()}
            page = stores.results.template_page(template_page_query(ORG, BIG, PAGE, **chosen))
            return len(page or [])

        return run

    def listing(deep: bool) -> Callable[[Any, int], int]:
        def run(stores: Any, rows: int) -> int:
            # templates are a second apart; a deep page starts 90 % of the way down the list
            after = (BASE + timedelta(seconds=int(rows * 0.1)), "t-") if deep else None
            return len(stores.templates.list_active(ORG, WORKSPACE, PAGE, after))

        return run

    def visibility(**filters: Any) -> Callable[[Any, int], int]:
        def run(stores: Any, rows: int) -> int:
            return len(stores.visibility.visibility(_scope(), BIG, **filters).cells)

        return run

    def sources(**filters: Any) -> Callable[[Any, int], int]:
        def run(stores: Any, rows: int) -> int:
            return len(stores.sources.sources(_scope(), BIG, **filters).cells)

        return run

    def drift(stores: Any, rows: int) -> int:
        report = stores.visibility.drift(_scope(), BIG)
        return sum(len(t.cells) for t in report.transitions)

    version = 42
    day = (BASE + timedelta(days=1)).date()  # inside both sizes' range (1,000 results: 3.5 days)
    return [
        Query("list templates, first page", listing(deep=False)),
        Query("list templates, page 90 % deep", listing(deep=True)),
        Query("results, no filter", results()),
        Query("results, with payloads", results(payloads=True)),
        Query("results, page 90 % deep", results(after=lambda rows: (at(rows, 0.1), "0"))),
        Query("results, country", results(country=_country_of(0))),
        Query("results, version (1 %)", results(version_id=_version(version))),
        Query(
            "results, country + version",
            results(country=_country_of(version), version_id=_version(version)),
        ),
        Query("results, from", results(since=lambda rows: at(rows, 0.5))),
        Query(
            "results, from/to (5 % of the range)",
            results(since=lambda rows: at(rows, 0.5), until=lambda rows: at(rows, 0.55)),
        ),
        Query("versions of a template", lambda stores, rows: len(stores.versions.history(ORG, BIG) or [])),
        Query("visibility, by version", visibility()),
        Query("visibility, one country", visibility(country=_country_of(0))),  # AX: an ISO code
        Query("visibility, by day, one day", visibility(group_by="day", first_day=day, last_day=day)),
        Query("drift impact, every transition", drift),
        Query("sources, by version", sources()),
        Query("sources, one country", sources(country=_country_of(0))),
        Query("sources, by day, one day", sources(group_by="day", first_day=day, last_day=day)),
        *workspace_report_queries(),
    ]


def workspace_report_queries() -> list[Query]:
    """The workspace reports of the brand workspace: the same 24 templates at both sizes."""

    def workspace_visibility(**filters: Any) -> Callable[[Any, int], int]:
        def run(stores: Any, rows: int) -> int:
            chosen = {k: (v(rows) if callable(v) else v) for k, v in filters.items()}
            return len(stores.workspace.visibility(_scope(), REPORT_WORKSPACE, **chosen).cells)

        return run

    def model_versions(stores: Any, rows: int) -> int:
        report = stores.workspace.model_versions(_scope(), REPORT_WORKSPACE)
        return sum(len(lineage.versions) for lineage in report.lineages)

    def workspace_drift(stores: Any, rows: int) -> int:
        report = stores.workspace.drift(_scope(), REPORT_WORKSPACE)
        return sum(len(t.cells) for t in report.transitions)

    def middle_day(rows: int) -> Any:  # under the second key at both sizes
        return (BASE + timedelta(days=report_days(rows) // 2)).date()

    def next_day(rows: int) -> Any:  # answered at both sizes (1,000 answers: 3.5 days)
        return middle_day(rows) + timedelta(days=1)

    def workspace_costs(**filters: Any) -> Callable[[Any, int], int]:
        def run(stores: Any, rows: int) -> int:
            chosen = {k: (v(rows) if callable(v) else v) for k, v in filters.items()}
            return len(stores.costs.costs(_scope(), REPORT_WORKSPACE, **chosen).items)

        return run

    return [
        Query("workspace visibility, by version", workspace_visibility()),
        Query("workspace visibility, one country", workspace_visibility(country=REPORT_COUNTRIES[1])),
        Query(
            "workspace visibility, by day, one day",
            workspace_visibility(group_by="day", first_day=middle_day, last_day=middle_day),
        ),
        Query("workspace model versions", model_versions),
        Query("workspace drift impact, every transition", workspace_drift),
        Query(
            "workspace costs, by day, one day",
            workspace_costs(group_by="day", first_day=middle_day, last_day=middle_day),
        ),
        Query(
            "workspace costs, by provider, two days",
            workspace_costs(group_by="provider", first_day=middle_day, last_day=next_day),
        ),
        Query("workspace costs, by model, every day", workspace_costs(group_by="model")),
        Query("workspace costs, by monitor, every day", workspace_costs(group_by="monitor")),
    ]


@dataclass
class Stores:
    templates: Any
    results: Any
    versions: Any
    visibility: Any
    sources: Any
    workspace: Any
    costs: Any
    engine: Any


def stores_for(url: str) -> Stores:
    from prompter.analytics.cost_queries import CostQueries
    from prompter.analytics.sources_queries import SourcesQueries
    from prompter.analytics.visibility_queries import VisibilityQueries
    from prompter.analytics.workspace_queries import WorkspaceQueries
    from prompter.db.costs import CostStore
    from prompter.db.engine import build_engine
    from prompter.db.results import ResultStore
    from prompter.db.sources import SourceStore
    from prompter.db.templates import TemplateStore
    from prompter.db.versions import ModelVersionStore
    from prompter.db.visibility import VisibilityStore
    from prompter.db.workspace import WorkspaceStore
    from prompter.settings import DatabaseSettings

    engine = build_engine(DatabaseSettings.from_env({"DATABASE_URL": url}))
    queries = VisibilityQueries(VisibilityStore(engine))
    sources = SourcesQueries(SourceStore(engine))
    workspace = WorkspaceQueries(WorkspaceStore(engine))
    return Stores(
        TemplateStore(engine),
        ResultStore(engine),
        ModelVersionStore(engine),
        queries,
        sources,
        workspace,
        CostQueries(CostStore(engine)),
        engine,
    )


def bulk_engine(url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def query_scale(cluster: Any) -> Measured:
    scale, rows = scale_rows()
    hint = " (BENCH_SCALE=large: 1,000,000)" if scale == "default" else ""
    details = [f"scale {scale!r}: {rows:,} rows against {SMALL:,}{hint}"]
    sized: dict[int, Stores] = {}
    for count in (SMALL, rows):
        url = migrated(cluster.create_database(f"scale_{count}"))
        stores = stores_for(url)
        started = time.perf_counter()
        with bulk_engine(url).connect() as conn:  # no statement timeout: generating takes a while
            populate(conn, count)
        took = time.perf_counter() - started
        details.append(f"generated {count:,} templates, results and versions in {took:.1f} s")
        sized[count] = stores
    figures: list[Figure] = []
    for query in queries():
        times: dict[int, list[float]] = {SMALL: [], rows: []}
        returned: dict[int, int] = {}
        for repeat in range(REPEATS + 3):
            for count in (SMALL, rows) if repeat % 2 else (rows, SMALL):
                started = time.perf_counter()
                returned[count] = query.run(sized[count], count)
                if repeat >= 3:  # warm: statement built, connection open, pages cached
                    times[count].append(time.perf_counter() - started)
        small_ms = statistics.median(times[SMALL]) * 1000
        big_ms = statistics.median(times[rows]) * 1000
        if returned[SMALL] != returned[rows]:
            details.append(
                f"note: {query.name}: {returned[rows]} rows at {rows:,}, {returned[SMALL]} at {SMALL:,}"
            )
        details.append(
            f"{query.name}: {big_ms:.3f} ms at {rows:,} rows, {small_ms:.3f} ms at {SMALL:,} "
            f"({returned[rows]} rows returned)"
        )
        figures.append(
            Figure("scale", f"{query.name} at {label(rows)} rows / at 1k rows", big_ms / small_ms, "x", 2.0)
        )
    for stores in sized.values():
        stores.engine.dispose()
    return figures, details


# ---------------------------------------------------------------- the version sweep


def sweep_scale(cluster: Any) -> Measured:
    """The VersionSweep state machine executed locally (moto's interpreter, the functions in-process,
    the fake provider) over 300 and then 3,000 templates on PostgreSQL."""
    import boto3

    from local.aws import local_aws
    from local.stepfunctions import STATE_MACHINE_ENV, largest_state_bytes, wait_for

    details: list[str] = []
    largest: dict[int, int] = {}
    rate = 0.0
    url = migrated(cluster.create_database("sweep"))
    # every template is probed once anyway: no de-duplication table
    with local_aws(), environment(DATABASE_URL=url, PROMPTER_IDEMPOTENCY_TABLE=""), quiet():
        sfn = boto3.client("stepfunctions")
        arn = os.environ[STATE_MACHINE_ENV["prompter-version-sweep"]]
        bulk = bulk_engine(url)
        inserted = 0
        for size in SWEEP_SIZES:
            with bulk.connect() as conn:
                conn.exec_driver_sql(
                    f"INSERT INTO prompt_templates ({TEMPLATE_COLUMNS})"
                    " SELECT 'sweep-' || lpad(g::text, 6, '0'), 'o', 'w', 'n', 'openai', 'gpt-4o',"
                    " md5(g::text) || md5(g::text), '{}', '', 'p', '[\"US\"]', '{}', '[]', now()"
                    " FROM generate_series(%s, %s - 1) AS g",
                    (inserted, size),
                )
            inserted = size
            started = time.perf_counter()
            execution = sfn.start_execution(stateMachineArn=arn, name=str(uuid.uuid4()), input="{}")
            described = wait_for(sfn, execution["executionArn"], timeout=600)
            elapsed = time.perf_counter() - started
            output = json.loads(described.get("output") or "{}")
            if described["status"] != "SUCCEEDED" or output.get("targets") != size:
                raise RuntimeError(f"sweep of {size} templates: {described['status']} {output}")
            largest[size] = largest_state_bytes(sfn, execution["executionArn"])
            rate = size / elapsed
            details.append(
                f"sweep of {size:,} templates: {described['status']} in {elapsed:.1f} s "
                f"({rate:.0f} targets/s), largest state {largest[size]:,} bytes"
            )
        bulk.dispose()
    small, large = SWEEP_SIZES
    figures = [
        Figure(
            "sweep",
            f"largest state bytes, {large} vs {small} targets",
            largest[large] / largest[small],
            "x",
            SWEEP_TARGET,
            note="the targets list lives in S3 (Distributed Map ItemReader); results are discarded",
        ),
        Figure("sweep", f"targets per second ({large} targets, local interpreter)", rate, "/s"),
    ]
    return figures, details
