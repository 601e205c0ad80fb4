"""Prompter domain layer: template identity, storage, provider tracking.

This package is shipped as one Lambda layer and is shared by every function. It never imports
from ``functions/`` or ``infra/`` and never reads ``os.environ`` outside ``settings``.
"""
