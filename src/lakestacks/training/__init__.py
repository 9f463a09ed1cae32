"""Lightning training: data modules, the trainer factory and the built-in models."""
