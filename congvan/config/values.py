"""The value types of the YAML a coordinator writes: text, addresses, codes, file names, list items and headers,
each cleaned and checked before a model holds it."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from congvan.i18n import _
from congvan.text import clean, header_break


def _text(value: Any) -> Any:
    return clean(value).strip() if isinstance(value, str) else value


def _header_safe(value: str) -> str:
    found = header_break(value)
    if found is not None:
        raise ValueError(_("contains a line break ({found}); it would end up in a mail header").format(found=found))
    return value


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError(_("must not be empty"))
    return value


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def check_address(value: str) -> str:
    """A plain addr-spec (local@domain.tld); display names live in their own fields."""
    _header_safe(value)
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise ValueError(_("{value!r} is not a mail address (expected name@domain)").format(value=value))
    if not _LOCAL.match(local) or len(local) > 64:
        raise ValueError(_("{value!r} is not a valid mail address (bad characters before '@')").format(value=value))
    if not _DOMAIN.match(domain):
        raise ValueError(_("{value!r} is not a valid mail address (bad or incomplete domain {domain!r})").format(
            value=value, domain=domain))
    return value


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def _code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(_("{value!r} is not a valid code (letters, digits, '-' or '_', at most 32)").format(
            value=value))
    return value


def _file_name(value: str) -> str:
    """A template named by a step is a file in the templates folder, never a path out of it."""
    if "/" in value or "\\" in value or value.startswith("."):
        raise ValueError(_("{value!r} must be a file name inside the templates folder (no folders, no leading '.')")
                         .format(value=value))
    return value


def _strip_list_marks(value: Any) -> Any:
    """'- Như trên;' → 'Như trên': the template adds the dash and the closing punctuation."""
    if isinstance(value, str):
        value = _text(value)
        value = re.sub(r"^[-–—]\s*", "", value)
        value = re.sub(r"\s*[;.]$", "", value)
    return value


def _strip_luu(value: Any) -> Any:
    value = _strip_list_marks(value)
    if isinstance(value, str):
        value = re.sub(r"^Lưu\s*:\s*", "", value)
    return value


def _starts_with_vt(value: str) -> str:
    if not re.match(r"^VT\b", value):
        raise ValueError(_("{value!r} must start with 'VT' (the Văn thư keeps the first copy)").format(value=value))
    return value


Text = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty)]
HeaderText = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty), AfterValidator(_header_safe)]
Address = Annotated[str, BeforeValidator(_text), AfterValidator(check_address)]
Code = Annotated[str, BeforeValidator(_text), AfterValidator(_code)]
FileName = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty), AfterValidator(_file_name)]
ListItem = Annotated[str, BeforeValidator(_strip_list_marks), AfterValidator(_non_empty)]
# A reference to a key defined elsewhere (a group, an authority, a signer, a unit code).
Ref = Annotated[str, BeforeValidator(_text), AfterValidator(_non_empty)]


def _summary_lines(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _headers(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Headers = Annotated[list[Text], BeforeValidator(_headers), Field(min_length=1)]


def _mail_name(value: str) -> str:
    """A mail template is named by its file stem in templates/mail/, never by a path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value) or ".." in value:
        raise ValueError(_("{value!r} must be a mail template name: a file stem in templates/mail/ (letters, digits, "
                           "'.', '-', '_')").format(value=value))
    return value


MailName = Annotated[str, BeforeValidator(_text), AfterValidator(_mail_name)]
