"""Small, dependency-free SVG charts: evaluation plots, and later the monitoring page and run
reports.

Each function returns one standalone SVG document as a string (a few KB, no scripts, fonts or
external references), so it can be logged as an artifact, embedded in HTML or opened alone.
This package imports nothing else of lakestacks.
"""

from lakestacks.plots.svg import Series, heatmap, line_chart, scatter_chart

__all__ = ["Series", "heatmap", "line_chart", "scatter_chart"]
