"""Typed preferences: a recipient's own and its tenant's defaults (api.md, Preferences).

The same models are the request bodies, the stored values and the replies: unknown fields are
refused wherever they come in.
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from chalicelib.models.common import Channel, Model

MAX_CATEGORIES = 100
_CATEGORY = re.compile("^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,128}$")
WALL_CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _category_name(value: str) -> str:
    if not _CATEGORY.fullmatch(value):
        raise ValueError("a category is 1 to 128 characters on one line")
    return value


def _time_zone(value: str) -> str:
    """An IANA zone name that this runtime knows (``Europe/Paris``)."""
    if len(value) > 64:
        raise ValueError("not an IANA time zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone") from None
    return value


CategoryName = Annotated[str, AfterValidator(_category_name)]
WallClock = Annotated[str, Field(pattern=WALL_CLOCK_PATTERN, description="HH:MM, 24-hour")]
TimeZoneName = Annotated[
    str, AfterValidator(_time_zone), Field(description="IANA zone, e.g. Europe/Paris")
]
ChannelSwitches = dict[Channel, bool]


def _omit_none(value: object) -> bool:
    return value is None


class PreferenceModel(Model):
    model_config = ConfigDict(extra="forbid")


class CategoryPreference(PreferenceModel):
    enabled: bool | None = Field(default=None, exclude_if=_omit_none)
    channels: ChannelSwitches | None = Field(default=None, exclude_if=_omit_none)


class TenantCategoryPreference(CategoryPreference):
    required: bool | None = Field(
        default=None,
        exclude_if=_omit_none,
        description="Notifications of this category ignore opt-outs and quiet hours",
    )


class QuietHours(PreferenceModel):
    """A daily window of wall-clock time in ``tz`` (may span midnight: 22:00 to 07:00)."""

    start: WallClock
    end: WallClock
    tz: TimeZoneName

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class RecipientPreferences(PreferenceModel):
    channels: ChannelSwitches | None = Field(default=None, exclude_if=_omit_none)
    categories: dict[CategoryName, CategoryPreference] | None = Field(
        default=None, max_length=MAX_CATEGORIES, exclude_if=_omit_none
    )
    quiet_hours: QuietHours | None = Field(default=None, exclude_if=_omit_none)


class TenantPreferences(PreferenceModel):
    categories: dict[CategoryName, TenantCategoryPreference] | None = Field(
        default=None, max_length=MAX_CATEGORIES, exclude_if=_omit_none
    )
