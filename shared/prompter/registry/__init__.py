"""The template registry: templates and their identity (canonical config and hash), the cost guard,
brand workspaces' profiles, and keyset paging."""
