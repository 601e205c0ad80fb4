"""What answers say about brands: answer analysis (pure), proportions and significance tests
(pure), visibility and drift impact per model version, and re-analysis after a profile changes."""
