"""Three-level names, table paths and model references."""

from __future__ import annotations

import pytest

from lakestacks.catalog import Catalog, CatalogError, ModelRef, parse_model_ref


def test_short_and_full_names_map_to_the_same_table() -> None:
    cat = Catalog("main.churn", "/lake")
    assert cat.qualify("features") == cat.qualify("main.churn.features") == "main.churn.features"
    assert cat.table_path("features") == "/lake/main/churn/features"
    assert cat.schema_path == "/lake/main/churn"
    assert cat.short("main.churn.features") == "features"
    assert cat.model_name("churn_model") == "main.churn.churn_model"
    assert Catalog("main.churn", "s3://b/").table_path("t") == "s3://b/main/churn/t"


@pytest.mark.parametrize("bad", ["Features", "1st", "a.b", "a.b.c.d", "with-dash", ""])
def test_bad_table_names_are_refused(bad: str) -> None:
    with pytest.raises(CatalogError):
        Catalog("main.churn", "/lake").qualify(bad)


@pytest.mark.parametrize("bad", ["main", "Main.churn", "a.b.c", "main.-x"])
def test_bad_catalogs_are_refused(bad: str) -> None:
    with pytest.raises(CatalogError):
        Catalog(bad, "/lake")


def test_model_references() -> None:
    assert parse_model_ref("churn_model/3") == ModelRef("churn_model", version=3)
    assert parse_model_ref("m@champion") == ModelRef("m", alias="champion")
    assert str(parse_model_ref("main.churn.m@champion")) == "main.churn.m@champion"
    assert parse_model_ref("m") == ModelRef("m")
    for bad in ("m/0", "m/x", "m@Champion"):
        with pytest.raises(CatalogError):
            parse_model_ref(bad)
