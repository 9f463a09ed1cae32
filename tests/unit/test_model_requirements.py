"""The pip requirements logged with every model: pins a package index can serve."""

from __future__ import annotations

import importlib.metadata

import pytest

from lakestacks.registry.tracking import requirements

INSTALLED = {
    "lakestacks": "0.1.0",
    "torch": "2.13.0+cpu",  # the CPU wheel's local version label
    "lightning": "2.6.6",
    "numpy": "2.4.6",
    "pandas": "3.1.1+local.build.7",
    "mlflow": "3.17.2",
}


def _version(name: str) -> str:
    if name not in INSTALLED:
        raise importlib.metadata.PackageNotFoundError(name)
    return INSTALLED[name]


def test_pins_drop_the_local_version_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", _version)
    pins = requirements()
    assert "torch==2.13.0" in pins and "pandas==3.1.1" in pins
    assert "lakestacks==0.1.0" in pins and "mlflow==3.17.2" in pins
    assert not [p for p in pins if "+" in p]
    assert "pyarrow" in pins  # not installed: named without a pin


def test_pins_of_this_environment_have_no_local_labels() -> None:
    pins = requirements()
    assert any(p.startswith("torch==") for p in pins)
    assert not [p for p in pins if "+" in p]
