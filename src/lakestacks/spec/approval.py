"""The ``approval`` section: automatic promotion or a human sign-off."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from lakestacks.spec._base import SpecModel

__all__ = ["ApprovalSection"]


class ApprovalSection(SpecModel):
    """Who lets a candidate that passed its gates become the champion."""

    mode: Literal["auto", "manual"] = Field(
        "auto", description="'auto' promotes on passing gates; 'manual' waits for `stacks approve`."
    )
    approvers: list[str] = Field(
        default_factory=list, description="Who may approve; empty means anyone (manual mode only)."
    )

    @model_validator(mode="after")
    def _approvers_need_manual(self) -> Self:
        if self.approvers and self.mode != "manual":
            raise ValueError("'approvers' applies to mode 'manual' only")
        return self
