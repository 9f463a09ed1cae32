"""Deterministic synthetic data for examples, tests and the quickstart stack.

A data source in a stack can be a generator (``generator:
lakestacks.data.generators:churn_customers``, its ``params`` passed as keyword arguments); the
function returns an Arrow table that is written to Delta like any other source.

:func:`churn_customers` builds a telecom-style customer table with a binary ``churned`` label.
The label follows a logistic model over several features (short tenure, a month-to-month
contract, electronic payment, fiber internet and many support calls raise churn), calibrated so
that a well-specified logistic regression reaches a held-out ROC AUC of about 0.85. On top of
the clean data it plants the problems real data has, so that data gates have something to
catch: about 2% nulls in ``monthly_charges``, 1% in ``total_charges`` and 1% in
``payment_method``, and about 0.1% of rows with impossible ``tenure`` (-1 or 999) and ``age``
(3 or 150) values. The label is drawn from the clean values, before any corruption.

Everything is vectorised numpy seeded by :func:`numpy.random.default_rng`, so the same
``(n, seed)`` always gives the same table.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # no stubs ship with pyarrow

__all__ = ["churn_customers"]

CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = ("card", "bank", "check", "electronic")
INTERNET_SERVICES = ("fiber", "dsl", "none")

_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64()),
        pa.field("tenure", pa.int64()),
        pa.field("monthly_charges", pa.float64()),
        pa.field("total_charges", pa.float64()),
        pa.field("contract", pa.string()),
        pa.field("payment_method", pa.string()),
        pa.field("internet_service", pa.string()),
        pa.field("support_calls", pa.int64()),
        pa.field("age", pa.int64()),
        pa.field("num_products", pa.int64()),
        pa.field("churned", pa.int64()),
    ]
)

# Fractions of rows given planted data-quality problems.
_NULL_RATES = {"monthly_charges": 0.02, "total_charges": 0.01, "payment_method": 0.01}
_OUT_OF_RANGE_RATE = 0.001

# Logistic model of churn. _SIGNAL_SCALE multiplies every non-intercept term; it and the
# intercept are calibrated for a ~25% churn rate and a held-out AUC of about 0.85.
_INTERCEPT = -3.1
_SIGNAL_SCALE = 1.3

_IntArray = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]


def churn_customers(n: int = 20_000, seed: int = 7) -> pa.Table:
    """Generate a synthetic customer-churn table with a real signal and planted flaws.

    Args:
        n: Number of rows (customers); at least 1.
        seed: Seed for :func:`numpy.random.default_rng`; the same ``(n, seed)`` always
            returns an equal table.

    Returns:
        An Arrow table with columns ``customer_id`` (int64, unique ``1..n``), ``tenure``
        (int64 months, ``0..120``), ``monthly_charges`` (float64), ``total_charges``
        (float64), ``contract`` (string: ``month-to-month``, ``one-year``, ``two-year``),
        ``payment_method`` (string: ``card``, ``bank``, ``check``, ``electronic``),
        ``internet_service`` (string: ``fiber``, ``dsl``, ``none``), ``support_calls``
        (int64), ``age`` (int64, ``18..90``), ``num_products`` (int64, ``1..6``) and
        ``churned`` (int64 label, 0 or 1, about 25% positive). ``monthly_charges``,
        ``total_charges`` and ``payment_method`` contain nulls, and a few ``tenure`` and
        ``age`` values are out of range on purpose.

    Raises:
        ValueError: If ``n`` is less than 1.

    Example:
        >>> table = churn_customers(n=1_000, seed=1)
        >>> table.num_rows
        1000
        >>> table.column_names[:3]
        ['customer_id', 'tenure', 'monthly_charges']
        >>> table.equals(churn_customers(n=1_000, seed=1))
        True
    """
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n})")
    rng = np.random.default_rng(seed)

    # --- clean features -------------------------------------------------------------------
    tenure = np.clip(np.rint(rng.gamma(1.3, 25.0, n)), 0, 120).astype(np.int64)
    # Long-tenure customers are more likely to be on long contracts.
    long_share = np.clip(0.2 + tenure / 150.0, 0.0, 0.9)
    u = rng.random(n)
    contract = np.where(u < 1.0 - long_share, 0, np.where(u < 1.0 - long_share / 2.0, 1, 2))
    payment = rng.choice(len(PAYMENT_METHODS), size=n, p=[0.25, 0.22, 0.18, 0.35])
    internet = rng.choice(len(INTERNET_SERVICES), size=n, p=[0.45, 0.35, 0.20])
    num_products = 1 + rng.binomial(5, 0.3, n).astype(np.int64)
    internet_base = np.array([70.0, 45.0, 20.0])[internet]
    monthly = np.clip(
        internet_base + 5.0 * (num_products - 1) + rng.normal(0.0, 8.0, n), 18.0, 120.0
    )
    total = np.maximum(tenure * monthly * rng.normal(1.0, 0.05, n) + rng.normal(0, 20.0, n), 0.0)
    total = np.round(total, 2)
    monthly = np.round(monthly, 2)
    support_calls = np.minimum(
        rng.poisson(1.2 + 0.8 * (internet == 0) + 0.5 * (contract == 0)), 15
    ).astype(np.int64)
    age = np.clip(np.rint(rng.normal(45.0, 15.0, n)), 18, 90).astype(np.int64)

    # --- label from the clean values ------------------------------------------------------
    signal = (
        1.1 * (contract == 0)
        - 0.9 * (contract == 2)
        + 0.6 * (payment == 3)
        + 0.6 * (internet == 0)
        - 0.3 * (internet == 2)
        + 0.35 * (support_calls - 1.5)
        - 0.025 * (tenure - 30.0)
        + 0.012 * (monthly - 55.0)
        - 0.15 * (num_products - 2.5)
        - 0.01 * (age - 45.0)
    )
    logit = _INTERCEPT + _SIGNAL_SCALE * signal
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    # --- planted data-quality problems ----------------------------------------------------
    null_masks = {col: _mask(rng, n, rate) for col, rate in _NULL_RATES.items()}
    tenure = _plant(rng, tenure, (-1, 999))
    age = _plant(rng, age, (3, 150))

    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "tenure": pa.array(tenure),
        "monthly_charges": pa.array(monthly, mask=null_masks["monthly_charges"]),
        "total_charges": pa.array(total, mask=null_masks["total_charges"]),
        "contract": _strings(contract, CONTRACTS, None),
        "payment_method": _strings(payment, PAYMENT_METHODS, null_masks["payment_method"]),
        "internet_service": _strings(internet, INTERNET_SERVICES, None),
        "support_calls": pa.array(support_calls),
        "age": pa.array(age),
        "num_products": pa.array(num_products),
        "churned": pa.array(churned),
    }
    return pa.Table.from_pydict(columns, schema=_SCHEMA)


def _mask(rng: np.random.Generator, n: int, rate: float) -> _BoolArray:
    """Return a boolean mask with ``round(rate * n)`` randomly chosen rows set."""
    mask = np.zeros(n, dtype=np.bool_)
    mask[rng.choice(n, size=round(rate * n), replace=False)] = True
    return mask


def _plant(rng: np.random.Generator, values: _IntArray, bad: tuple[int, int]) -> _IntArray:
    """Return a copy of ``values`` with ~0.1% of rows set to one of the ``bad`` values.

    The rows are split evenly between the two bad values, so each appears about equally often.
    """
    n = len(values)
    count = min(n, int(np.ceil(_OUT_OF_RANGE_RATE * n)))
    rows = rng.choice(n, size=count, replace=False)
    out = values.copy()
    out[rows[: count // 2]] = bad[0]
    out[rows[count // 2 :]] = bad[1]
    return out


def _strings(codes: _IntArray, labels: tuple[str, ...], mask: _BoolArray | None) -> pa.Array:
    """Decode integer ``codes`` into a string array of ``labels``, null where ``mask``."""
    return pa.array(np.asarray(labels)[codes], type=pa.string(), mask=mask)
