"""Benchmarks of the service levels in SPEC §7: ``python -m bench.run`` (``make bench``).

``bench.fastapi_app`` is the cold-start baseline: the same template registry written as the
equivalent FastAPI + SQLAlchemy ORM + prometheus-client service.
"""
