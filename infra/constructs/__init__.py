"""One construct per capability. Named ``infra.constructs``: import it with the ``infra.`` prefix
(``infra/app.py`` keeps ``infra/`` itself off ``sys.path`` so the ``constructs`` library is found)."""
