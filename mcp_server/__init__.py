"""A read-only Model Context Protocol server over Prompter's HTTP API (``make mcp``, stdio).

Each tool is one ``GET`` route of the API (``tools.TOOLS``): its arguments are the route's path and
query parameters, as the shipped OpenAPI document describes them, and its result is the route's JSON.
The server holds no data and no database connection: it calls the API at ``PROMPTER_API_URL`` (the
local server by default) with ``PROMPTER_API_TOKEN`` as a bearer token when one is set. No Lambda
function loads this package (it is not in the layer).
"""
