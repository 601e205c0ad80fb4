"""Benchmarks of the service levels in SPEC §7: ``python -m bench.run`` (``make bench``).

``bench.run`` orchestrates and prints the table; each benchmark is a module of its own
(``statements``, ``warm``, ``scale``, ``cold_start``) over ``bench.common``. ``bench.fastapi_app``
is the cold-start baseline: the same template registry written as the equivalent FastAPI +
SQLAlchemy ORM + prometheus-client service.
"""
