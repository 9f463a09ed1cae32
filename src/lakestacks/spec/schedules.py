"""The ``schedules`` section: cron schedules per flow, checked with croniter (what Prefect uses)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from lakestacks.spec._base import SpecModel
from lakestacks.spec.plugins import one_of, stage_names

__all__ = ["Schedule", "Schedules", "flows"]


def flows() -> list[str]:
    """The flows a schedule may name: ``pipeline`` and every registered stage."""
    return ["pipeline", *stage_names()]


def _known_flow(value: str) -> str:
    return one_of(value, flows())


Flow = Annotated[
    str, AfterValidator(_known_flow), Field(description="'pipeline' or a stage's name.")
]


class Schedule(SpecModel):
    """A cron schedule, optionally in a time zone."""

    cron: str = Field(
        min_length=1, description="Five-field cron, e.g. '0 3 * * 1' (Mondays 03:00)."
    )
    timezone: str = Field("UTC", description="IANA time zone, e.g. 'Europe/Stockholm'.")

    @field_validator("cron")
    @classmethod
    def _parses(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a valid cron string: use five fields 'minute hour day month "
                "weekday', e.g. '0 3 * * 1'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Stockholm'"
            )
        ZoneInfo(value)
        return value


def _from_string(value: Any) -> Any:
    return {"cron": value} if isinstance(value, str) else value


Schedules = dict[
    Flow, Annotated[Schedule, BeforeValidator(_from_string, json_schema_input_type=str | Schedule)]
]
