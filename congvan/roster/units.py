"""Which unit of ``units.yaml`` a roster's cell names: its code in any case, or its name however it is
spelled ("UBND huyện Ea H'leo", "huyện Ea H'leo", "Ea H'leo")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from congvan.config import LoadedCampaign
from congvan.roster.cells import header_key

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_UBND = re.compile(r"^(ubnd|ủy ban nhân dân|uỷ ban nhân dân) ")
_LOCALITY = re.compile(r"^(huyện|thị xã|thành phố|tp\.?) ")


def _name_key(text: str) -> str:
    """Unit names compare ignoring case, spacing, '&' for 'và' and the kind of apostrophe."""
    return header_key(text.translate(_APOSTROPHES).replace("&", " và "))


def _name_aliases(name: str) -> Iterator[str]:
    key = _name_key(name)
    yield key
    if _UBND.match(key):  # "UBND huyện Ea H'leo" is also "huyện Ea H'leo" and "Ea H'leo"
        rest = _UBND.sub("", key)
        yield rest
        yield _LOCALITY.sub("", rest)


class _Units:
    """Unit codes (any case) and names (full, or without "UBND huyện ...") to the code in units.yaml."""

    def __init__(self, lc: LoadedCampaign) -> None:
        self.codes: dict[str, str] = {_name_key(u.code): u.code for u in lc.units}
        self.addressed = {a.unit.code for a in lc.addressees}
        seen: dict[str, set[str]] = {}
        for unit in lc.units:
            for alias in _name_aliases(unit.name):
                seen.setdefault(alias, set()).add(unit.code)
        self.names = {alias: next(iter(codes)) for alias, codes in seen.items() if len(codes) == 1}
        self._seen: dict[str, str | None] = {}

    def code(self, text: str) -> str | None:
        try:
            return self._seen[text]  # a roster names each unit in the same few ways on thousands of rows
        except KeyError:
            key = _name_key(text)
            code = self._seen[text] = self.codes.get(key) or self.names.get(key)
            return code
