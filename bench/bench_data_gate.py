"""The data gate's cost: validate + commit of 10 M rows x 10 columns vs a raw Delta write.

Each variant runs in its own process so peak memory (max RSS) is its own. Every declared
expectation is checked on every row (no sampling). Goal: validate+commit reaches at least
0.5x the raw write's rows/s, i.e. the gate costs at most as much as the write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

ROWS = int(os.environ.get("BENCH_ROWS", "10000000"))

CHILD = r"""
import json, resource, sys, time
import numpy as np, pyarrow as pa

rows, variant, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(7)
ids = np.arange(rows, dtype=np.int64)
charges = rng.uniform(20, 120, rows)
charges[rng.random(rows) < 0.02] = np.nan
table = pa.table({
    "customer_id": ids,
    "tenure": rng.integers(0, 121, rows),
    "age": rng.integers(18, 91, rows),
    "monthly_charges": pa.array(charges, from_pandas=True),
    "total_charges": rng.uniform(0, 9000, rows),
    "contract": pa.array(rng.choice(["month-to-month", "one-year", "two-year"], rows)),
    "payment_method": pa.array(rng.choice(["card", "bank", "check", "electronic"], rows)),
    "support_calls": rng.poisson(2, rows),
    "num_products": rng.integers(1, 7, rows),
    "churned": rng.integers(0, 2, rows),
})
start = time.perf_counter()
if variant == "raw":
    from deltalake import write_deltalake
    write_deltalake(path, table, mode="overwrite")
    checked = 0
else:
    from lakestacks.data.tables import write_table
    from lakestacks.quality import validate
    from lakestacks.spec.data import Suite
    suite = Suite.model_validate({"mode": "enforce", "checks": [
        {"expect": "column_values_to_not_be_null", "column": "customer_id"},
        {"expect": "column_values_to_be_unique", "column": "customer_id"},
        {"expect": "column_values_to_be_between", "column": "tenure",
         "min_value": 0, "max_value": 120},
        {"expect": "column_values_to_be_between", "column": "age",
         "min_value": 18, "max_value": 100},
        {"expect": "column_values_to_be_in_set", "column": "contract",
         "value_set": ["month-to-month", "one-year", "two-year"]},
        {"expect": "column_values_to_not_be_null", "column": "monthly_charges", "mostly": 0.95},
    ]})
    report = validate("features", table, suite)
    assert report.success, report.summary()
    checked = len(report.results)
    write_table(path, table, mode="overwrite")
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "checks": checked}))
"""


def run(variant: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROWS), variant, f"{tmp}/t"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    results = {v: run(v) for v in ("raw", "gate")}
    raw_rate = ROWS / results["raw"]["seconds"]
    gate_rate = ROWS / results["gate"]["seconds"]
    print(f"{ROWS:,} rows x 10 columns, {int(results['gate']['checks'])} expectations on every row")
    print(f"{'variant':28} {'seconds':>8} {'M rows/s':>9} {'peak MB':>8}")
    print(
        f"{'raw write_deltalake':28} {results['raw']['seconds']:8.2f} {raw_rate / 1e6:9.2f} "
        f"{results['raw']['peak_mb']:8.0f}"
    )
    print(
        f"{'validate + commit':28} {results['gate']['seconds']:8.2f} {gate_rate / 1e6:9.2f} "
        f"{results['gate']['peak_mb']:8.0f}"
    )
    print(f"ratio (gate / raw rows/s): {gate_rate / raw_rate:.2f}  (goal >= 0.5)")


if __name__ == "__main__":
    main()
