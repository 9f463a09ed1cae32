"""Real-time serving: MLflow's scoring protocol on uvicorn, with traffic splits, hot swap,
auth, limits, Prometheus metrics and an inference table in Delta."""

from lakestacks.serving.config import ServeConfig, build_config, hash_token
from lakestacks.serving.server import ServeSummary, running, serve

__all__ = ["ServeConfig", "ServeSummary", "build_config", "hash_token", "running", "serve"]
