"""Who receives a letter: "Kính gửi" entries and groups expanded to units and their mailboxes."""

from __future__ import annotations

from dataclasses import dataclass

from congvan.config import LoadedCampaign


def address_key(address: str) -> str:
    """Mailbox identity for "one delivery per address": case-insensitive, as every real server treats it."""
    return address.strip().lower()


@dataclass(frozen=True)
class Recipient:
    name: str  # the display name in To/Cc
    address: str
    role: str  # "to" | "cc"
    unit: str | None = None  # the unit's code, when the recipient is a unit (or its head)


@dataclass(frozen=True)
class PlannedMessage:
    """One message of a letter: its To and Cc. The ledger gives it a Message-ID and a row per address."""

    to: tuple[Recipient, ...]
    cc: tuple[Recipient, ...] = ()

    @property
    def recipients(self) -> tuple[Recipient, ...]:
        return self.to + self.cc

    @property
    def unit(self) -> str | None:
        return self.to[0].unit if self.to else None


def dispatch_messages(lc: LoadedCampaign) -> list[PlannedMessage]:
    """The dispatch: one message to each unit's mailbox, one to each named body with an address, then
    one copy to each address in ``copies``. An address already served earlier gets nothing more."""
    messages = [PlannedMessage(to=(Recipient(a.unit.name, a.unit.email, "to", a.unit.code),))
                for a in lc.addressees]
    messages += [PlannedMessage(to=(Recipient(str(ref.name), str(ref.email), "to"),))
                 for ref in lc.extra_recipients]
    messages += [PlannedMessage(to=(Recipient(copy.name, copy.email, "cc"),)) for copy in lc.campaign.copies]
    seen: set[str] = set()
    unique: list[PlannedMessage] = []
    for message in messages:
        key = message.to[0].address.strip().lower()
        if key not in seen:
            seen.add(key)
            unique.append(message)
    return unique
