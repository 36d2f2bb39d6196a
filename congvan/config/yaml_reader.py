"""Reading a YAML file of ``config/``: duplicate keys refused, impossible dates kept as text, syntax errors
worded for people, and the nodes kept so a problem found later gets the line and column of what it names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from congvan.errors import Problem
from congvan.i18n import N_, _

_MERGE_TAG = "tag:yaml.org,2002:merge"


# libyaml's parser when PyYAML has it (the wheels do): units.yaml of 2,000 units reads ten times faster.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """PyYAML keeps the last of two equal keys without a word; a lost unit must be an error."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        if key_node.tag == _MERGE_TAG:  # "<<: *anchor": its keys may be overridden on purpose
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, _("duplicate key {key!r} (first at line {line}); one of them would be lost").format(
                    key=key, line=first), key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


def _timestamp_or_text(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    """'2023-02-30' looks like a date but is none: keep the text, so validation names its field."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[str, str, int | None, int | None]:
    mark = exc.problem_mark or exc.context_mark
    message = _yaml_message(f"{exc.problem or exc}".strip())
    ctx = exc.context_mark
    if exc.context and ctx is not None and (mark is None or ctx.line != mark.line):
        message += " " + _("({context} started at line {line})").format(context=_yaml_message(exc.context),
                                                                       line=ctx.line + 1)
    if mark is None:
        return "", message, None, None
    return "", message, mark.line + 1, mark.column + 1


# PyYAML's words, as people read them (the rest of a parser message is kept as it is).
_YAML_WORDS = (
    N_("could not find expected ':'"), N_("mapping values are not allowed here"),
    N_("found character '\\t' that cannot start any token"), N_("expected <block end>, but found '<scalar>'"),
    N_("found unexpected end of stream"), N_("did not find expected key"), N_("did not find expected ',' or ']'"),
    N_("did not find expected ',' or '}'"), N_("while scanning a simple key"), N_("while parsing a block mapping"),
    N_("while scanning a quoted scalar"), N_("while parsing a flow sequence"), N_("while parsing a block collection"),
    N_("while parsing a flow mapping"), N_("did not find expected '-' indicator"),
    N_("found character that cannot start any token"), N_("while scanning a plain scalar"),
    N_("found undefined alias"), N_("while parsing a block node"), N_("expected <block end>, but found '-'"),
    N_("expected <block end>, but found '<block mapping start>'"), N_("found unknown escape character"),
    N_("expected <block end>, but found '<block sequence start>'"),
)


def _yaml_message(text: str) -> str:
    return _(text) if text in _YAML_WORDS else text


# Where a problem is in its file: the YAML nodes of each file read (by the name shown), so a problem found by
# pydantic or a cross-check gets the line and column of what it names.
_NODES: dict[str, yaml.Node] = {}
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def _position(shown: str, loc: tuple[int | str, ...], *, partial: bool = False) -> tuple[int, int] | None:
    """Line and column (from 1) of what ``loc`` names in the file read as ``shown``; ``partial``: of the deepest
    part found (a missing field: its mapping), else None unless the whole path is found."""
    node = _NODES.get(shown)
    if node is None:
        return None
    at: yaml.Node = node
    for part in loc:
        if isinstance(part, str) and _is_tag(part):
            continue
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            found = (node.value[part], node.value[part])
        else:
            found = None
        if found is None:
            if not partial:
                return None
            break
        key, node = found
        at = node if isinstance(node, yaml.ScalarNode) else key
    return at.start_mark.line + 1, at.start_mark.column + 1


def _located(problems: list[Problem]) -> list[Problem]:
    """The problems, each with its line and column when its file was read and it names a field."""
    out = []
    for p in problems:
        if p.line is None and p.field:
            loc = tuple(int(m.group(1)) if m.group(1) is not None else m.group(2)
                        for m in _PATH_PART.finditer(p.field))
            where = _position(p.file, loc)
            if where is not None:
                p = Problem(p.file, p.field, p.message, *where)
        out.append(p)
    return out


def _read_yaml(path: Path, shown: str, problems: list[Problem]) -> Any:
    _NODES.pop(shown, None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(shown, "", _("file not found")))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(shown, "", _("cannot be read: {error}").format(error=exc)))
        return None
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        problems.append(Problem(shown, *_yaml_problem(exc)))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(shown, "", str(exc)))
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        problems.append(Problem(shown, "", _("expected a mapping of fields at the top level"), 1, 1))
        return None
    _NODES[shown] = node
    return data


def _is_tag(part: int | str) -> bool:
    """A union member's tag in an error location (``<named>``), not a field."""
    return isinstance(part, str) and part.startswith("<")
