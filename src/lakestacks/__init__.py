"""lakestacks: a model's whole lifecycle from one validated YAML stack file."""

__version__ = "0.1.0"

__all__ = ["__version__"]
