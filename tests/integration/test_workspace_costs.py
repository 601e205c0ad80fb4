"""What answers cost (SPEC §3, §4): a run's totals (GET /api/runs/{run_id}) and the workspace's costs
report (GET /api/workspaces/{id}/costs), from answers stored through the run route and the workflow
tasks (the local fake provider; real adapters against a fake server for a failed answer that was paid
for), on SQLite and PostgreSQL. Every expected figure is summed here from the results route, each
result's own ``usage`` and ``cost_usd``, as exact decimals."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from prompter.db.costs import costs_statement
from prompter.db.engine import build_engine
from prompter.db.migrate import upgrade
from prompter.db.results import RunStore
from prompter.db.schema import prompt_results, prompt_runs, prompt_templates
from prompter.runs import recording
from prompter.settings import DatabaseSettings
from tests.conftest import Api, AwsFakes
from tests.fake_http import FakeServer
from tests.integration.test_probe_api import create
from tests.integration.test_query_plans import scans_of
from tests.integration.test_templates_api import TEMPLATES
from tests.integration.test_visibility_api import task
from tests.integration.test_workspace_reports import explain
from tests.providers.grounded_responses import GEMINI_NOT_SEARCHED

WORKSPACE = "ws-costs"
COSTS = f"/api/workspaces/{WORKSPACE}/costs"
PROMPT = "Which longevity brands would you recommend in {{country}}?"
DAY_1 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
DAY_2 = datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)  # the last second of its UTC day
DAY_4 = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)  # the first second of its UTC day
COUNTERS = ("answers", "unpriced", "input_tokens", "output_tokens", "search_calls")


def template(api: Api, **changes: Any) -> dict[str, Any]:
    fields = {"workspace_id": WORKSPACE, "country_set": ["US"], "user_prompt_template": PROMPT, **changes}
    return create(api, **fields)


def ran(api: Api, template_id: str, **body: Any) -> dict[str, Any]:
    reply = api.post(f"{TEMPLATES}/{template_id}/run", body)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def results(api: Api, *template_ids: str) -> list[dict[str, Any]]:
    found = []
    for template_id in template_ids:
        reply = api.get(f"{TEMPLATES}/{template_id}/results")
        assert reply.status == 200, reply.body
        found.extend(reply.body["items"])
    return found


def costs(api: Api, **query: str) -> Any:
    reply = api.get(COSTS, query=query or None)
    assert reply.status == 200, reply.body
    return reply.body


def expected(answers: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a group of stored results (answers only), summed from each one's own fields."""
    figures: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    cost = Decimal(0)
    for result in answers:
        if result["status"] != "succeeded" and result["usage"] is None:
            continue  # a failure recorded without an answer
        figures["answers"] += 1
        used = result["usage"] or {}
        for name in ("input_tokens", "output_tokens", "search_calls"):
            figures[name] += used.get(name, 0)
        if result["cost_usd"] is None:
            figures["unpriced"] += 1
        else:
            cost += Decimal(str(result["cost_usd"]))
    return {**figures, "cost_usd": float(cost)}


def grouped(answers: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for result in answers:
        groups[key(result)].append(result)
    return [{"key": k, **expected(groups[k])} for k in sorted(groups, key=lambda k: (k is not None, k or ""))]


def at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Results stored from now on are stored at ``when``."""
    monkeypatch.setattr(recording, "utcnow", lambda: when)


# ------------------------------------------------------------------ a run's totals


def test_a_run_sums_its_answers_usage_and_cost(api: Api) -> None:
    priced = template(api, model_id="gpt-4o")
    run = ran(api, priced["id"], country="US")
    [result] = results(api, priced["id"])
    status = api.get(f"/api/runs/{run['run_id']}").body
    assert result["cost_usd"] > 0 and result["usage"]["input_tokens"] > 0
    assert status["usage"] == result["usage"]
    assert (status["cost_usd"], status["unpriced"]) == (result["cost_usd"], 0)
    # A model the price table does not list: its tokens count, its cost cannot
    unlisted = template(api, provider="fake", model_id="fake-echo-1")
    run = ran(api, unlisted["id"], country="US")
    [result] = results(api, unlisted["id"])
    status = api.get(f"/api/runs/{run['run_id']}").body
    assert result["cost_usd"] is None and result["usage"]["output_tokens"] > 0
    assert (status["usage"], status["cost_usd"], status["unpriced"]) == (result["usage"], 0.0, 1)


def test_a_failed_answer_the_provider_gave_is_paid_for(api: Api, provider_server: FakeServer) -> None:
    # Given grounding required and an engine that did not search: stored failed, with its usage
    gemini = template(api, model_id="gemini-2.5-flash", country_set=["FR"])
    provider_server.reply(200, GEMINI_NOT_SEARCHED)
    assert api.post(f"{TEMPLATES}/{gemini['id']}/run", {"grounding": "required"}).status == 502
    [result] = results(api, gemini["id"])
    assert (result["status"], result["error_code"]) == ("failed", "GROUNDING_NOT_USED")
    # Then its run and its workspace count it: 31 in x $0.30 + 17 out x $2.50 per 1M, no search
    status = api.get(f"/api/runs/{result['run_id']}").body
    assert status["usage"] == {"input_tokens": 31, "output_tokens": 17, "search_calls": 0}
    assert (status["cost_usd"], status["unpriced"]) == (0.0000518, 0)
    [day] = costs(api)["items"]
    assert day == {"key": result["created_at"][:10], **expected([result])}
    assert day["answers"] == 1 and day["cost_usd"] == 0.0000518


# ------------------------------------------------------------------ the workspace's report


def store_three_days(api: Api, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Answers of two templates over three UTC days: gpt-4o (two on day 1, one on day 4),
    gpt-4o-mini (day 2, a run overriding the template's model) and an unpriced model (day 1)."""
    openai = template(api, model_id="gpt-4o")
    fake = template(
        api, provider="fake", model_id="fake-echo-1", user_prompt_template="Say hi in {{country}}."
    )
    at(monkeypatch, DAY_1)
    ran(api, openai["id"], country="US")
    ran(api, openai["id"], country="US")
    ran(api, fake["id"], country="US")
    at(monkeypatch, DAY_2)
    ran(api, openai["id"], country="US", model_id="gpt-4o-mini")
    at(monkeypatch, DAY_4)
    ran(api, openai["id"], country="US")
    stored = results(api, openai["id"], fake["id"])
    assert len(stored) == 5 and all(r["usage"]["input_tokens"] > 0 for r in stored)
    assert sum(r["cost_usd"] is None for r in stored) == 1
    return stored


def test_costs_by_day_provider_model_and_monitor(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = store_three_days(api, monkeypatch)
    by_day = costs(api)
    assert (by_day["workspace_id"], by_day["group_by"], by_day["currency"]) == (WORKSPACE, "day", "USD")
    assert by_day["items"] == grouped(stored, lambda r: r["created_at"][:10])
    assert [i["key"] for i in by_day["items"]] == ["2026-03-01", "2026-03-02", "2026-03-04"]
    assert by_day["total"] == expected(stored)
    assert by_day["total"]["answers"] == 5 and by_day["total"]["unpriced"] == 1

    by_provider = costs(api, group_by="provider")
    assert by_provider["items"] == grouped(stored, lambda r: r["provider"])
    first = by_provider["items"][0]
    assert (first["key"], first["answers"], first["unpriced"], first["cost_usd"]) == ("fake", 1, 1, 0.0)
    by_model = costs(api, group_by="model")
    assert by_model["items"] == grouped(stored, lambda r: f"{r['provider']}/{r['model_id']}")
    assert [i["key"] for i in by_model["items"]] == [
        "fake/fake-echo-1",
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
    ]
    by_monitor = costs(api, group_by="monitor")  # no monitor started these runs
    assert by_monitor["items"] == [{"key": None, **expected(stored)}]
    for report in (by_provider, by_model, by_monitor):
        assert report["total"] == by_day["total"]


def test_a_range_of_utc_days(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = store_three_days(api, monkeypatch)

    def within(first: str, last: str) -> list[dict[str, Any]]:
        return [r for r in stored if first <= r["created_at"][:10] <= last]

    one_day = costs(api, **{"from": "2026-03-02", "to": "2026-03-02"})
    assert one_day["items"] == grouped(within("2026-03-02", "2026-03-02"), lambda r: r["created_at"][:10])
    assert one_day["total"]["answers"] == 1
    # days before and after the answers' last and first seconds
    models = costs(api, group_by="model", **{"from": "2026-03-02", "to": "2026-03-04"})
    assert models["items"] == grouped(
        within("2026-03-02", "2026-03-04"), lambda r: f"{r['provider']}/{r['model_id']}"
    )
    assert [i["key"] for i in models["items"]] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    until = costs(api, group_by="provider", to="2026-03-01")
    assert until["items"] == grouped(within("", "2026-03-01"), lambda r: r["provider"])
    since = costs(api, **{"from": "2026-03-02"})
    assert [i["key"] for i in since["items"]] == ["2026-03-02", "2026-03-04"]
    assert since["total"] == expected(within("2026-03-02", "9999"))
    empty = costs(api, group_by="monitor", **{"from": "2026-03-03", "to": "2026-03-03"})
    assert empty["items"] == [] and empty["total"] == {**dict.fromkeys(COUNTERS, 0), "cost_usd": 0.0}


def test_answers_of_a_deleted_template_still_cost(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = store_three_days(api, monkeypatch)
    before = costs(api, group_by="model")
    for template_id in {r["template_id"] for r in stored}:
        assert api.call("DELETE", f"{TEMPLATES}/{template_id}").status == 204
    assert costs(api, group_by="model") == before
    assert before["total"]["answers"] == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"group_by": "week"}, "group_by"),
        ({"group_by": "version"}, "group_by"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": "0"}, "from"),
        ({"to": "03/01/2026"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
    ],
)
def test_bad_parameters_are_422s_naming_the_field(api: Api, query: dict[str, str], field: str) -> None:
    reply = api.get(COSTS, query=query)
    assert reply.status == 422, reply.body
    assert [e["loc"][-1] for e in reply.detail["errors"]] == [field]


# ------------------------------------------------------------------ stored once, under its monitor


def test_a_replayed_store_counts_once_under_its_run_s_monitor(
    api: Api, aws: AwsFakes, database_url: str
) -> None:
    # Given a batch run a monitor's firing started (its run row names the monitor)
    created = template(api, country_set=["US", "DE"])
    engine = build_engine(DatabaseSettings(database_url=database_url))
    RunStore(engine).create(
        {
            "id": "run-of-monitor",
            "org_id": created["org_id"],
            "workspace_id": WORKSPACE,
            "template_id": created["id"],
            "status": "running",
            "countries": ["US", "DE"],
            "request": {},
            "created_at": datetime.now(UTC),
            "monitor_id": "mon-1",
        }
    )
    engine.dispose()
    item = {"run_id": "run-of-monitor", "org_id": created["org_id"], "template_id": created["id"]}
    # When its US answer is stored twice (a workflow retrying its store task)
    outcome = task("probe_provider", {"action": "call", **item, "country": "US"})
    first = task("store_result", {"action": "store", **outcome})
    second = task("store_result", {"action": "store", **outcome})
    assert (first["inserted"], second["inserted"]) == (True, False)
    # and its DE item is recorded failed without an answer (the provider refused the credentials)
    failure = {"Error": "ProviderAuthError", "Cause": "openai refused the credentials (401)"}
    recorded = task("store_result", {"action": "record_failure", **item, "country": "DE", "error": failure})
    assert recorded["status"] == "failed"
    # Then the answer counts once, under the monitor, and the failure nowhere
    stored = results(api, created["id"])
    assert sorted(r["status"] for r in stored) == ["failed", "succeeded"]
    report = costs(api, group_by="monitor")
    assert report["items"] == [{"key": "mon-1", **expected(stored)}]
    assert report["items"][0]["answers"] == 1
    status = api.get("/api/runs/run-of-monitor").body
    [answer] = [r for r in stored if r["status"] == "succeeded"]
    assert (status["usage"], status["cost_usd"], status["unpriced"]) == (
        answer["usage"],
        answer["cost_usd"],
        0,
    )


# ------------------------------------------------------------------ tenancy


def test_a_workspace_is_its_org_s(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # An unknown workspace has an empty report
    nothing = api.get("/api/workspaces/ws-nothing/costs").body
    assert nothing == {
        "workspace_id": "ws-nothing",
        "group_by": "day",
        "currency": "USD",
        "total": {**dict.fromkeys(COUNTERS, 0), "cost_usd": 0.0},
        "items": [],
    }
    # Given answers in the default org's workspace and in acme's workspace of the same name
    at(monkeypatch, DAY_1)
    ran(api, template(api)["id"], country="US")
    acme = Api(org="acme")
    theirs = template(acme, org_id="acme", name="Acme's")
    ran(acme, theirs["id"], country="US")
    ran(acme, theirs["id"], country="US")
    # Then each org sees its own answers, and the default org's when none is named
    assert costs(api)["total"]["answers"] == 1
    assert costs(api, org_id="default")["total"]["answers"] == 1
    assert [i["answers"] for i in costs(acme)["items"]] == [2]
    assert costs(api, org_id="globex")["items"] == []


def test_a_verified_org_sees_only_its_own_costs(database_url: str) -> None:
    acme, globex = Api(claims={"custom:org_id": "acme"}), Api(claims={"custom:org_id": "globex"})
    ran(acme, template(acme)["id"], country="US")
    assert [i["answers"] for i in costs(acme)["items"]] == [1]
    assert costs(globex)["items"] == []
    # a claim wins over the org a query names
    assert costs(globex, org_id="acme")["items"] == []


# ------------------------------------------------------------------ the migration


def test_the_migration_counts_the_answers_stored_before_it(tmp_path: Any, pg_cluster: Any) -> None:
    for url in (f"sqlite:///{tmp_path}/before.db", pg_cluster.create_database("costs_migration")):
        # Given results stored at the previous revision: priced, unpriced, failed with and without
        # an answer, on two days, one run started by a monitor
        engine = build_engine(DatabaseSettings(database_url=url))
        upgrade(engine, "0010_monitors")
        with engine.begin() as conn:
            conn.execute(
                prompt_templates.insert().values(
                    id="t1",
                    org_id="o",
                    workspace_id="w",
                    name="n",
                    provider="openai",
                    model_id="gpt-4o",
                    config_hash="h" * 64,
                    canonical_config={},
                    system_instructions="",
                    user_prompt_template="p",
                    country_set=["FR"],
                    inference_params={},
                    tools_spec=[],
                    created_at=DAY_1,
                )
            )
            run = {"org_id": "o", "workspace_id": "w", "template_id": "t1", "status": "succeeded"}
            run.update(countries=["FR"], request={}, created_at=DAY_1)
            conn.execute(
                prompt_runs.insert(),
                [{**run, "id": "run-m", "monitor_id": "mon-1"}, {**run, "id": "run-a", "monitor_id": None}],
            )
            common = {
                "org_id": "o",
                "workspace_id": "w",
                "template_id": "t1",
                "run_country": "FR",
                "provider": "openai",
                "model_id": "gpt-4o",
                "status": "succeeded",
            }
            used = {"input_tokens": 100, "output_tokens": 20, "search_calls": 1}
            conn.execute(
                prompt_results.insert(),
                [
                    {**common, "id": "r1", "run_id": "run-m", "sample": 1, "created_at": DAY_1,
                     "usage": used, "cost_usd": Decimal("0.01045000")},
                    {**common, "id": "r2", "run_id": "run-m", "sample": 2, "created_at": DAY_2,
                     "usage": used, "cost_usd": Decimal("0.00000003")},
                    {**common, "id": "r3", "run_id": "run-a", "sample": 1, "created_at": DAY_2,
                     "model_id": "gpt-x", "usage": {"input_tokens": 7, "output_tokens": 5, "search_calls": 0},
                     "cost_usd": None},
                    {**common, "id": "r4", "run_id": "run-a", "sample": 2, "created_at": DAY_2,
                     "status": "failed", "usage": used, "cost_usd": Decimal("0.00000001")},
                    {**common, "id": "r5", "run_id": "run-a", "sample": 3, "created_at": DAY_2,
                     "status": "failed", "usage": None, "cost_usd": None},
                ],
            )  # fmt: skip
        # When the database is migrated
        upgrade(engine)
        # Then the answers are in the cost counters, for their day and for all days
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT day, model_id, monitor_id, answers, unpriced, input_tokens, output_tokens,"
                    " search_calls, cost_nano_usd FROM cost_counts WHERE org_id = 'o' AND workspace_id = 'w'"
                    " ORDER BY day, model_id, monitor_id"
                )
            ).all()
        engine.dispose()
        assert [tuple(row) for row in rows] == [
            ("", "gpt-4o", "", 1, 0, 100, 20, 1, 10),
            ("", "gpt-4o", "mon-1", 2, 0, 200, 40, 2, 10_450_030),
            ("", "gpt-x", "", 1, 1, 7, 5, 0, 0),
            ("2026-03-01", "gpt-4o", "mon-1", 1, 0, 100, 20, 1, 10_450_000),
            ("2026-03-02", "gpt-4o", "", 1, 0, 100, 20, 1, 10),
            ("2026-03-02", "gpt-4o", "mon-1", 1, 0, 100, 20, 1, 30),
            ("2026-03-02", "gpt-x", "", 1, 1, 7, 5, 0, 0),
        ]


# ------------------------------------------------------------------ query plans


@pytest.fixture(scope="module")
def planner(pg_cluster: Any) -> Iterator[Connection]:
    """Cost counters of 2,000 workspaces of one org, each over 60 days, 3 models and 3 monitors (and
    the all-days rows), statistics analysed."""
    url = pg_cluster.create_database("cost_plans")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    upgrade(engine)
    with engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO cost_counts (org_id, workspace_id, day, provider, model_id, monitor_id, answers,"
                " unpriced, input_tokens, output_tokens, search_calls, cost_nano_usd)"
                " SELECT 'o', 'w-' || w, d.day, 'openai', 'gpt-' || m,"
                " CASE WHEN k = 0 THEN '' ELSE 'mon-' || k END, 10, 1, 1000, 200, 3, 12345"
                " FROM generate_series(1, 2000) w"
                " CROSS JOIN (SELECT '' AS day UNION ALL SELECT to_char(date '2026-01-01' + g, 'YYYY-MM-DD')"
                " FROM generate_series(0, 59) g) d CROSS JOIN generate_series(1, 3) m"
                " CROSS JOIN generate_series(0, 2) k"
            )
        )
        conn.execute(text("ANALYZE"))
        yield conn
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("group_by", ["day", "provider", "model", "monitor"])
@pytest.mark.parametrize("all_days", [True, False], ids=["all days", "a range"])
def test_the_costs_statement_reads_one_index_range(
    planner: Connection, group_by: Any, all_days: bool
) -> None:
    values = {"org_id": "o", "workspace_id": "w-7", "first_day": "2026-01-10", "last_day": "2026-01-16"}
    found = explain(planner, costs_statement(group_by, all_days), values)
    scans = scans_of(found, "cost_counts")
    assert scans and all(
        node in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan") for node, _ in scans
    ), json.dumps(found)
