"""``make move-payloads``: move the request and response JSON of results stored before
0013_result_payloads out of the database named by the environment (``DATABASE_URL``, default the
local SQLite file) into the payload storage it names (``PROMPTER_PAYLOAD_BUCKET``, else
``PROMPTER_PAYLOAD_DIR`` or ``.data/payloads``), page after page until none is left.

The same :class:`prompter.runs.payloads.PayloadBackfill` that store_result's ``move_payloads`` action
runs when deployed; safe to stop and to run again (docs/decision_log.md, "Payloads in S3").
"""

from __future__ import annotations

import argparse
import sys
import time

from prompter import bootstrap
from prompter.runs.payloads import MovePayloadsTask
from prompter.settings import StoreFunctionSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--page", type=int, default=100, help="results a page, one transaction (1 to 500)")
    args = parser.parse_args(argv)
    backfill = bootstrap.services(StoreFunctionSettings).payload_backfill
    after: str | None = None
    moved = 0
    while True:
        report = backfill.run(MovePayloadsTask(after=after, page=args.page), time.monotonic)
        moved += report["moved"]
        after = report["after"]
        print(f"moved {moved} payloads" + ("" if after is None else f" so far (up to result {after})"))
        if after is None:
            return 0


if __name__ == "__main__":
    sys.exit(main())
