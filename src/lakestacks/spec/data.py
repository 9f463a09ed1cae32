"""The ``data`` section: sources, prep steps, expectation suites and the split."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from lakestacks.spec._base import Column, LocalPath, Name, Ref, SpecModel, TableName

__all__ = ["DataSection", "Expectation", "PrepStep", "Source", "Split", "Suite"]

Mode = Literal["off", "dry_run", "enforce"]
MODE_DESCRIPTION = (
    "'enforce' blocks the run on failure, 'dry_run' records failures and goes on, 'off' skips."
)


class Source(SpecModel):
    """Where raw data comes from: exactly one of a file, a Delta table or a generator function."""

    path: LocalPath | None = Field(
        None, description="A CSV, Parquet, JSON Lines file or Delta folder; relative to the stack."
    )
    format: Literal["csv", "parquet", "json", "delta"] | None = Field(
        None, description="The file format; inferred from the extension when omitted."
    )
    table: TableName | None = Field(None, description="A Delta table by catalog name.")
    version: int | None = Field(None, ge=0, description="Read the table as of this version.")
    timestamp: datetime | None = Field(
        None, description="Read the table as of this time (ISO 8601)."
    )
    generator: Ref | None = Field(
        None, description="A function 'module:name' that returns the data (a pyarrow Table)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the generator."
    )
    description: str = Field("", max_length=2000, description="What this source holds.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("path", "table", "generator") if getattr(self, k) is not None]
        if len(kinds) != 1:
            got = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a source needs exactly one of 'path', 'table' or 'generator' (got {got})"
            )
        if self.params and self.generator is None:
            raise ValueError("'params' applies to a 'generator' source only")
        if self.format is not None and self.path is None:
            raise ValueError("'format' applies to a 'path' source only")
        if (
            (self.version is not None or self.timestamp is not None)
            and self.path is None
            and (self.table is None)
        ):
            raise ValueError("'version' and 'timestamp' apply to Delta sources only")
        if self.version is not None and self.timestamp is not None:
            raise ValueError("give 'version' or 'timestamp', not both")
        return self


class PrepStep(SpecModel):
    """A user transform: reads sources or earlier outputs, writes one Delta table."""

    function: Ref = Field(
        description="The transform 'module:function'; it takes its inputs as pyarrow Tables "
        "and returns a pyarrow Table, a polars or a pandas DataFrame."
    )
    inputs: list[Name] | None = Field(
        None, description="Sources or earlier outputs passed to the function; default: all sources."
    )
    output: Name = Field(description="The table the step writes, e.g. 'features'.")
    mode: Literal["overwrite", "append", "merge"] = Field(
        "overwrite", description="How the output is written: overwrite, append or merge (upsert)."
    )
    keys: list[Column] = Field(
        default_factory=list, description="Key columns; required for mode 'merge'."
    )
    schema_policy: Literal["strict", "merge"] = Field(
        "strict",
        alias="schema",
        description="'strict' refuses a changed schema; 'merge' admits new columns.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for the function."
    )

    @model_validator(mode="after")
    def _keys_for_merge(self) -> Self:
        if self.mode == "merge" and not self.keys:
            raise ValueError("mode 'merge' needs 'keys', the columns that identify a row")
        return self


class Expectation(SpecModel, extra="allow"):
    """One Great Expectations check; its arguments sit beside ``expect``."""

    expect: str = Field(
        min_length=1,
        description="A Great Expectations expectation, e.g. 'column_values_to_not_be_null'.",
    )


def _suite_from_list(value: Any) -> Any:
    return {"checks": value} if isinstance(value, list) else value


class Suite(SpecModel):
    """The expectations on one table: a list of checks, or this mapping for mode and quarantine."""

    mode: Mode = Field("enforce", description=MODE_DESCRIPTION)
    quarantine: bool = Field(
        True, description="Write failing rows to '<table>__quarantine' when a check fails."
    )
    on_failure: Literal["fail", "drop"] = Field(
        "fail",
        description="In enforce mode: 'fail' writes nothing and fails the run; 'drop' commits "
        "the rows that pass the row-level checks (failing rows go to the quarantine).",
    )
    checks: list[Expectation] = Field(min_length=1, description="The checks to run.")


def _steps_from_mapping(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Split(SpecModel):
    """A deterministic hash split of one table into train, validation and test."""

    table: Name | None = Field(None, description="The table to split; default: the last output.")
    by: Column = Field(description="The key column hashed to assign a row's split.")
    test: float = Field(gt=0, lt=1, description="Share of rows in the test split.")
    validation: float = Field(0.0, ge=0, lt=1, description="Share of rows in the validation split.")
    seed: int = Field(0, ge=0, description="Salt of the hash; change it to draw another split.")

    @model_validator(mode="after")
    def _leaves_train(self) -> Self:
        if self.test + self.validation >= 1:
            raise ValueError(
                f"test ({self.test}) + validation ({self.validation}) must leave rows to train on "
                "(sum below 1)"
            )
        return self


class DataSection(SpecModel):
    """Data preparation: where data comes from, how it is shaped, checked and split."""

    sources: dict[Name, Source] = Field(
        min_length=1, description="Named raw inputs; each is ingested into a table of that name."
    )
    prep: Annotated[
        list[PrepStep],
        BeforeValidator(_steps_from_mapping, json_schema_input_type=PrepStep | list[PrepStep]),
    ] = Field(default_factory=list, description="Transform steps, run in order.")
    expectations: dict[
        Name,
        Annotated[
            Suite,
            BeforeValidator(_suite_from_list, json_schema_input_type=list[Expectation] | Suite),
        ],
    ] = Field(
        default_factory=dict, description="Checks per table, run before the table is written."
    )
    split: Split | None = Field(None, description="How rows are split for training and testing.")
