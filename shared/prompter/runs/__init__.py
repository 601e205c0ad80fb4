"""Running templates: starting a run (one country, or a batch through Step Functions), rendering
prompts, recording results, and reading runs and results back."""
