"""pydantic's validation errors as the coordinator reads them: one ``Problem`` per error, its field path as
written in the YAML, its message in the user's language, an unknown field with the names allowed there."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from congvan.config.yaml_reader import _is_tag, _position
from congvan.errors import Problem
from congvan.i18n import N_, _, language
from congvan.text import one_line

M = TypeVar("M", bound=BaseModel)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if _is_tag(part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{one_line(part)}" if out else one_line(part))
    return out


def _tagged(tp: Any, tag: str) -> Any:
    """The member of a discriminated union that carries ``Tag(tag)``."""
    for member in get_args(_unwrap(tp)):
        if get_origin(member) is Annotated and any(isinstance(m, Tag) and m.tag == tag
                                                   for m in member.__metadata__):
            return member
    return None


def _unwrap(tp: Any) -> Any:
    """The type inside Annotated[...] and X | None."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names the model accepts at ``loc`` (the location of an unknown field)."""
    tp: Any = model
    for part in loc[:-1]:
        if isinstance(part, str) and _is_tag(part):
            tp = _tagged(tp, part)
            continue
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return []
            tp = info.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


# pydantic's messages, by error type: its English template (the msgid) filled with the error's context.
_PYDANTIC = {
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, {error}"),
    "date_type": N_("Input should be a valid date"),
    "datetime_parsing": N_("Input should be a valid datetime, {error}"),
    "string_type": N_("Input should be a valid string"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_type": N_("Input should be a valid integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "bool_type": N_("Input should be a valid boolean"),
    "list_type": N_("Input should be a valid list"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "too_short": N_("{field_type} should have at least {min_length} item after validation, not {actual_length}"),
    "too_long": N_("{field_type} should have at most {max_length} items after validation, not {actual_length}"),
    "string_too_short": N_("String should have at least {min_length} character"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "literal_error": N_("Input should be {expected}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "greater_than": N_("Input should be greater than {gt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "union_tag_invalid": N_("Input tag {tag} found using {discriminator} does not match any of the expected tags: "
                            "{expected_tags}"),
    "union_tag_not_found": N_("Unable to extract tag using discriminator {discriminator}"),
}


# The reasons pydantic gives inside a date error.
_DATE_REASONS = (N_("input is too short"), N_("input is too long"), N_("invalid character in year"),
                 N_("invalid character in month"), N_("invalid character in day"),
                 N_("month value is outside expected range of 1-12"), N_("day value is outside expected range"),
                 N_("invalid date separator, expected `-`"), N_("unexpected extra characters at the end of the input"))


def pydantic_message(err: Any) -> str:
    template = _PYDANTIC.get(err["type"])
    if template is None or language() == "en":
        return str(err["msg"])
    ctx = dict(err.get("ctx") or {})
    if err["type"] not in _PLURAL and template.format_map(_Keep(ctx)) != err["msg"]:
        return str(err["msg"])  # this pydantic words it otherwise: keep its own
    if str(ctx.get("error")) in _DATE_REASONS:
        ctx["error"] = _(str(ctx["error"]))
    return _(template).format_map(_Keep(ctx))


_PLURAL = ("too_short", "too_long", "string_too_short", "string_too_long")


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _message(model: type[BaseModel], err: Any) -> str:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden" and loc:
        allowed = _fields_at(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            return _("unknown field {name!r} (did you mean {close!r}?)").format(name=loc[-1], close=close[0])
        return _("unknown field {name!r} (allowed: {allowed})").format(name=loc[-1], allowed=", ".join(allowed)) \
            if allowed else _("unknown field {name!r}").format(name=loc[-1])
    if err["type"] == "missing":
        return _("required field is missing")
    if err["type"] in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ")
    return pydantic_message(err)


def _parse(model: type[M], data: Any, shown: str, problems: list[Problem]) -> M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = _position(shown, loc, partial=err["type"] == "missing") or (None, None)
            problems.append(Problem(shown, _loc(loc), _message(model, err), *where))
        return None
