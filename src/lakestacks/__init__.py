"""lakestacks: a model's whole lifecycle from one validated YAML stack file."""

__version__ = "0.1.0"

JSON_SCHEMA = 1
"""The version of the shape of every ``--json`` document (its ``"schema"`` field); the README
lists each command's fields, and a test holds the output to that list."""

__all__ = ["JSON_SCHEMA", "__version__"]
