"""Feature preparation for the quickstart churn stack (a user's prep function).

A prep function takes its inputs as pyarrow Tables, named as in the stack's ``inputs``, and
returns a pyarrow Table (a polars or pandas DataFrame works too).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def build(customers: pa.Table) -> pa.Table:
    """Add the average monthly spend; data-quality problems are left for the expectations."""
    months = pc.max_element_wise(customers["tenure"], pa.scalar(1, pa.int64()))
    spend = pc.divide(customers["total_charges"], pc.cast(months, pa.float64()))
    return customers.append_column("avg_monthly_spend", spend)
