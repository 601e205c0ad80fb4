"""Storage (SPEC §7): the bytes a stored result takes in Aurora, analysis included, at a 30 KB answer.

One template with a brand and two competitors, run synchronously (``POST .../run``, in-process, real
provider mode) against a local OpenAI-shaped server whose every answer is :data:`ANSWER_BYTES` of
text: a numbered list of brands, each with a few sentences of varied prose (words drawn from a
vocabulary by a seeded generator, so the text compresses about as well as an ordinary answer does,
not as a repeated string would). Each run goes the whole store path: the call, the analysis, the
payload written to a folder (S3 when deployed: not Aurora), the row and its counters inserted.

Measured on PostgreSQL after :data:`FIRST` and again after :data:`RESULTS` results:

- the row: ``avg(pg_column_size(t.*))`` over the results table, the whole row as one value, its
  long values counted as stored (compressed inline or moved to the TOAST table, still compressed);
- index entries: the growth of the results table's indexes between the two counts, per result
  (growth, not size: an index's first pages are shared by every row).

The figure is their sum (target ≤ 4,096). Printed beside it: each column's average size, and the
table's own growth on disk per result (heap, TOAST and indexes: pages, line pointers, free space).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from typing import Any

from bench.common import Figure, Measured, environment, migrated, quiet
from bench.cost import chat_completion

ANSWER_BYTES = 30_000
FIRST = 100  # results stored before the first measurement
RESULTS = 600  # results stored in all
TARGET = 4096  # SPEC §7: a stored result takes at most 4 KB in Aurora, analysis included
KEY = "bench-key"
PROFILE: dict[str, Any] = {"brand_name": "Avea", "competitors": [{"name": "Elysium"}, {"name": "Thorne"}]}
BRANDS = ("Avea", "Elysium", "Thorne", "Life Extension", "Tru Niagen", "NOVOS", "Timeline", "DoNotAge")
VOCABULARY = (
    "the a of and to in is for with that on as are by this it be from or its at which their more has "
    "have can also been most than these some other not one while but formula daily dose doses study "
    "studies trial trials clinical evidence human cellular energy ageing aging longevity support health "
    "healthy muscle mitochondrial NAD+ precursor nicotinamide riboside resveratrol urolithin pterostilbene "
    "quality tested third-party certificate purity batch label price prices shop shops pharmacy online "
    "country countries availability regulation doctor pharmacist medication people results vary early "
    "published independent popular athletes clinics practitioner catalogue ingredient ingredients blend "
    "capsule capsules powder sublingual liposomal absorption bioavailability months weeks serving brand "
    "brands known recommended customers reviews subscription shipping value research team scientists "
    "founded company products product range strength formats options stack stacks routine morning"
)
WORDS = VOCABULARY.split()


def answer_text(size: int = ANSWER_BYTES, seed: int = 7) -> str:
    """About ``size`` bytes of a list answer: brands in turn, each with sentences of varied prose."""
    rng = random.Random(seed)
    lines = ["Here are longevity supplement brands often recommended, with what each is known for:", ""]
    length = sum(len(line) + 1 for line in lines)
    number = 0
    while length < size:
        number += 1
        brand = BRANDS[(number - 1) % len(BRANDS)]
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
            sentences.append(" ".join(words).capitalize() + ".")
        line = f"{number}. **{brand}**: " + " ".join(sentences)
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines)[:size]


ANSWER = answer_text()


_SIZES = """
SELECT avg(pg_column_size(t.*))::float8 AS row_bytes,
       count(*) AS results,
       pg_relation_size('prompt_results') + coalesce(pg_total_relation_size(reltoastrelid), 0) AS table_bytes,
       pg_indexes_size('prompt_results') AS index_bytes
FROM prompt_results t, pg_class c
WHERE c.oid = 'prompt_results'::regclass
GROUP BY reltoastrelid
"""


def _sizes(engine: Any) -> dict[str, float]:
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE prompt_results"))
        return dict(conn.execute(text(_SIZES)).mappings().one())


def _columns(engine: Any) -> list[tuple[str, float]]:
    """Each column's average stored size, largest first."""
    from sqlalchemy import text

    from prompter.db.schema import prompt_results

    names = [c.name for c in prompt_results.c]
    sizes = ", ".join(f'avg(coalesce(pg_column_size("{n}"), 0))::float8 AS "{n}"' for n in names)
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT {sizes} FROM prompt_results")).mappings().one()
    return sorted(((n, float(row[n])) for n in names), key=lambda item: -item[1])


def storage(cluster: Any) -> Measured:
    from sqlalchemy import create_engine

    from local.apigw import invoke, rest_event
    from tests.fake_http import serving

    url = migrated(cluster.create_database("storage"))
    with tempfile.TemporaryDirectory(prefix="prompter-bench-payloads-") as payloads, serving() as server:
        server.reply(200, body=lambda recorded: chat_completion(recorded.body, ANSWER))
        settings = {
            "DATABASE_URL": url,
            "PROMPTER_PROVIDER_MODE": "real",
            "PROMPTER_OPENAI_API_KEY": KEY,
            "PROMPTER_OPENAI_ENDPOINT": server.url,
            "PROMPTER_RATE_BUDGETS": json.dumps({"openai/*": {"rpm": 1_000_000, "tpm": 1_000_000_000}}),
            "PROMPTER_PAYLOAD_BUCKET": "",
            "PROMPTER_PAYLOAD_DIR": payloads,
        }
        with environment(**settings):
            body = {
                "workspace_id": "ws-storage",
                "name": "storage",
                "user_prompt_template": "Which longevity supplement brands do you recommend in {{country}}?",
                "country_set": ["US"],
                "provider": "openai",
                "model_id": "gpt-4o",
                "inference_params": {"max_tokens": 4096},
            }
            with quiet():
                created = invoke(rest_event("POST", "/api/prompt-templates", body=body))
            template_id = json.loads(created["body"])["id"]
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            measured: list[dict[str, float]] = []
            started = time.perf_counter()
            for stored in range(1, RESULTS + 1):
                with quiet():
                    ran = invoke(rest_event("POST", f"/api/prompt-templates/{template_id}/run", body=PROFILE))
                if ran["statusCode"] != 200:
                    raise RuntimeError(f"storage: run answered {ran['statusCode']}: {ran['body'][:300]}")
                if stored in (FIRST, RESULTS):
                    measured.append(_sizes(engine))
            seconds = time.perf_counter() - started
            columns = _columns(engine)
            engine.dispose()
    first, last = measured
    added = last["results"] - first["results"]
    index_bytes = (last["index_bytes"] - first["index_bytes"]) / added
    on_disk = (
        last["table_bytes"] + last["index_bytes"] - first["table_bytes"] - first["index_bytes"]
    ) / added
    row_bytes = last["row_bytes"]
    total = row_bytes + index_bytes
    top = ", ".join(f"{name} {size:,.0f}" for name, size in columns[:8])
    details = [
        f"{RESULTS} results stored through POST .../run (real provider mode, a local server answering "
        f"{len(ANSWER.encode()):,} bytes of text, {len(PROFILE['competitors']) + 1} brands analysed) "
        f"in {seconds:.1f} s; payloads written to a folder (deployed: S3)",
        f"row: avg(pg_column_size(t.*)) {row_bytes:,.0f} bytes; index entries: {index_bytes:,.0f} bytes a "
        f"result (the indexes' growth from {first['results']:.0f} to {last['results']:.0f} results)",
        f"largest columns (average bytes as stored): {top}",
        f"on disk: the table's heap, TOAST and indexes grow {on_disk:,.0f} bytes a result (pages, line "
        "pointers and free space included)",
    ]
    figure = Figure("storage", "bytes per stored result in Aurora", total, " B", TARGET)
    return [figure], details
