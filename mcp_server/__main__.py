"""``python -m mcp_server``: what ``make mcp`` runs."""

import sys

from mcp_server.server import main

sys.exit(main())
