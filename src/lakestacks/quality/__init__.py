"""The data gate: expectation suites run on Arrow tables before they are committed to Delta.

Expectations are written in Great Expectations' language. The common ones (nulls, ranges,
sets, uniqueness, regexes, column statistics, table shape) run natively on Arrow with GX's
semantics, fast enough to cost less than the Delta write they guard; the others run in Great
Expectations itself (pandas, ephemeral context), imported only when a suite needs it. GX also
draws the data-docs page of every validation.
"""

from __future__ import annotations

from lakestacks.quality._arrow import NATIVE
from lakestacks.quality._validate import validate
from lakestacks.quality.docs import (
    index_path,
    prepare_data_docs,
    start_data_docs,
    wait_for_data_docs,
    write_data_docs,
)
from lakestacks.quality.report import VALIDATIONS_SCHEMA, CheckResult, ValidationReport, report_rows

__all__ = [
    "NATIVE",
    "VALIDATIONS_SCHEMA",
    "CheckResult",
    "ValidationReport",
    "index_path",
    "prepare_data_docs",
    "report_rows",
    "start_data_docs",
    "validate",
    "wait_for_data_docs",
    "write_data_docs",
]
