"""The Prompter CDK app: ``app.py`` (entry), ``stack.py`` (one thin stack), ``constructs/`` (one
construct per capability)."""
