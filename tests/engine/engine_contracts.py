"""Contracts of the test sagas under `sagas/` (types prefixed `Et`, so they never clash
with a real service's). Importing this module registers them."""

from __future__ import annotations

from pydantic import Field

from bus.wire.contracts import Command, Event


class EtParcelRegistered(Event):
    parcel_id: str


class EtParcelWeighed(Event):
    """`kilos` may be missing: the parcel saga's expression cannot read such a payload."""

    parcel_id: str
    kilos: float | None = None


class EtLabelParcel(Command):
    """A label for a parcel; a weight that is not positive is refused by the contract."""

    parcel_id: str
    grams: float = Field(gt=0)
