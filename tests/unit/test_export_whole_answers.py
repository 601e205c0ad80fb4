"""An export's answer text is the whole answer: a row keeps only the start of a long one (the rest is
in its payload), so the export reads the payload of every row whose text was cut."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prompter.adapters.folder import Folder
from prompter.errors import PayloadStorageUnavailable
from prompter.exports.exporting import Exports
from prompter.runs.payloads import Payloads, answer_columns

WHEN = datetime(2026, 12, 6, 12, tzinfo=UTC)


def row(payloads: Payloads, result: str, text: str) -> dict[str, Any]:
    response = {"choices": [{"message": {"role": "assistant", "content": text}}]}
    stored = payloads.write("org", "ws", WHEN, result, {"model": "gpt-4o"}, response)
    return {"id": result, "created_at": WHEN, **stored.columns(), **answer_columns(text)}


def test_a_long_answer_is_exported_whole_and_a_short_one_as_it_is(tmp_path: Path) -> None:
    payloads = Payloads(Folder(tmp_path, PayloadStorageUnavailable))
    long_text, short_text = "Avea leads. " * 400, "Avea leads."
    rows = [row(payloads, "r-long", long_text), row(payloads, "r-short", short_text)]
    assert len(rows[0]["answer_text"]) < len(long_text)  # the row keeps only its start
    exports = Exports(None, None, None, payloads=lambda: payloads)  # type: ignore[arg-type]
    whole = exports._whole_answers(rows)
    assert [r["answer_text"] for r in whole] == [long_text, short_text]
    assert whole[1] is rows[1]  # nothing read for an answer the row holds whole
