"""Local development: the whole API on a laptop, through the same handlers that deploy."""
