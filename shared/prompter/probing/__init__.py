"""Asking providers: one adapter per provider API, the model version that answered and its lineage,
probes, and the version sweep's targets."""
