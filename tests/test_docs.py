"""The coordinator's guide (docs/huong-dan-su-dung.md) and the config reference (docs/config-reference.md) follow
the code: the reference is exactly what ``congvan.config_reference`` renders from the models and names every field
and every CONGVAN_* setting; the guide names every setting, shows only commands and options the CLI has, and its
YAML examples use only real fields (the complete files validate against the sample config)."""

from __future__ import annotations

import difflib
import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import typer.main
import yaml
from pydantic import BaseModel
from support import ROOT

from congvan import config
from congvan.cli import app
from congvan.config_reference import REGENERATE, anchor, config_models, render_reference, setting_names
from congvan.settings import Settings
from congvan.validation import validate_campaign

GUIDE = ROOT / "docs" / "huong-dan-su-dung.md"
REFERENCE = ROOT / "docs" / "config-reference.md"
SHELL_BLOCKS = {"sh", "bash", "shell", "console"}
# What the guide exists to explain: each must be shown at least once.
ESSENTIAL = {"validate", "dispatch", "status", "escalate", "report", "roster import", "responses import"}

FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`]+)`")
SETTING = re.compile(r"\bCONGVAN_[A-Z0-9_]*[A-Z0-9]\b")


def _guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block; indented fences (inside list items) included."""
    dedented = re.sub(r"^[ \t]+(?=```)", "", text, flags=re.MULTILINE)
    blocks = []
    for m in FENCE.finditer(dedented):
        body = m["body"]
        indent = min((len(line) - len(line.lstrip()) for line in body.splitlines() if line.strip()), default=0)
        blocks.append((m["info"].strip().lower(), "\n".join(line[indent:] for line in body.splitlines())))
    return blocks


def commands_in(text: str) -> list[list[str]]:
    """Every `congvan ...` command: lines of shell blocks (after any VAR=value prefix) and inline code spans."""
    found: list[str] = []
    for info, body in code_blocks(text):
        if info in SHELL_BLOCKS:
            found += [line.strip().removeprefix("$ ") for line in body.splitlines()]
    prose = FENCE.sub("", re.sub(r"^[ \t]+(?=```)", "", text, flags=re.MULTILINE))
    found += [" ".join(span.split()) for span in INLINE.findall(prose)]
    commands = []
    for line in found:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words.pop(0)
        if words and words[0] == "congvan":
            commands.append(words)
    return commands


def _subcommands(command: Any) -> dict[str, Any] | None:
    """A group's commands; None for a command. (Typer vendors its own click: compare by shape, not by class.)"""
    commands = getattr(command, "commands", None)
    return commands if isinstance(commands, dict) else None


def command_problems(words: list[str], root: Any) -> list[str]:
    """Why ``words`` ("congvan", ...) is not a command the CLI has: unknown (sub)command or option."""
    shown = " ".join(words)
    command, rest = root, words[1:]
    while (subs := _subcommands(command)) is not None and rest and not rest[0].startswith("-"):
        if rest[0] not in subs:
            return [f"{shown}: no command {rest[0]!r} (known: {', '.join(sorted(subs))})"]
        command, rest = subs[rest[0]], rest[1:]
    options = {"--help"}
    for param in command.params:
        if param.param_type_name == "option":
            options.update(param.opts + param.secondary_opts)
    return [f"{shown}: {command.name or 'congvan'} has no option {word.split('=')[0]!r} "
            f"(known: {', '.join(sorted(options))})"
            for word in rest if word.startswith("-") and word.split("=")[0] not in options]


def command_name(words: list[str], root: Any) -> str:
    """"roster import" for ["congvan", "roster", "import", ...]."""
    names: list[str] = []
    command = root
    for word in words[1:]:
        subs = _subcommands(command)
        if subs is None or word not in subs:
            break
        command = subs[word]
        names.append(word)
    return " ".join(names)


def _cli() -> Any:
    group = typer.main.get_command(app)
    assert _subcommands(group), "the congvan app has no commands"
    return group


# --- the config reference ------------------------------------------------------------------------------------


def test_the_committed_reference_is_what_the_models_render() -> None:
    committed, rendered = _reference(), render_reference()
    if committed != rendered:
        diff = "\n".join(list(difflib.unified_diff(committed.splitlines(), rendered.splitlines(), "committed",
                                                   "rendered", lineterm=""))[:40])
        pytest.fail(f"docs/config-reference.md is out of date with the models; regenerate it from the project root "
                    f"with:\n    {REGENERATE}\n{diff}", pytrace=False)


def test_the_regeneration_command_prints_the_reference() -> None:
    """What the failure message above tells people to run does write the reference (as UTF-8, on any locale)."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}
    out = subprocess.run([sys.executable, "-m", "congvan.config_reference"], cwd=ROOT, env=env, capture_output=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")
    assert out.stdout.decode("utf-8") == render_reference()


def _config_module_models() -> list[type[BaseModel]]:
    return [cls for _, cls in inspect.getmembers(config, inspect.isclass)
            if issubclass(cls, BaseModel) and cls.__module__ == config.__name__ and not cls.__name__.startswith("_")]


def test_the_reference_walks_every_model_of_the_config() -> None:
    walked = set(config_models())
    missing = [m.__name__ for m in _config_module_models() if m not in walked]
    assert not missing, f"models in congvan/config.py the reference does not reach from its FILES: {missing}"


def _section(reference: str, model: type[BaseModel]) -> str:
    start = reference.find(f'<a id="{anchor(model)}"></a>')
    assert start >= 0, f"no section for {model.__name__} in docs/config-reference.md"
    end = min((i for i in (reference.find("<a id=", start + 1), reference.find("\n## ", start + 1)) if i >= 0),
              default=len(reference))
    return reference[start:end]


@pytest.mark.parametrize("model", _config_module_models(), ids=lambda m: m.__name__)
def test_every_field_of_every_config_model_is_in_the_reference(model: type[BaseModel]) -> None:
    section = _section(_reference(), model)
    missing = [name for name in model.model_fields if f"\n| `{name}` |" not in section]
    assert not missing, f"{model.__name__}: fields missing from docs/config-reference.md: {missing}"


@pytest.mark.parametrize("model", [*_config_module_models(), Settings], ids=lambda m: m.__name__)
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    bare = [name for name, info in model.model_fields.items() if not (info.description or "").strip()]
    assert not bare, f"{model.__name__}: add Field(description=...) to {bare} (it goes into the reference)"


def test_every_link_in_the_reference_has_its_target() -> None:
    reference = _reference()
    targets = set(re.findall(r'<a id="([^"]+)"></a>', reference))
    links = set(re.findall(r"\]\(#([^)]+)\)", reference))
    assert links, "the reference links nested models to their sections"
    assert links <= targets, f"links without a section: {sorted(links - targets)}"


def test_every_setting_is_in_the_reference_and_in_the_guide() -> None:
    names = [f"CONGVAN_{name.upper()}" for name in Settings.model_fields]
    assert setting_names() == names
    reference, guide = _reference(), _guide()
    assert not [n for n in names if f"| `{n}` |" not in reference], "settings missing from the reference"
    missing = [n for n in names if not re.search(rf"\b{n}\b", guide)]
    assert not missing, f"settings the guide does not mention: {missing}"


def test_the_guide_names_no_setting_that_does_not_exist() -> None:
    known = set(setting_names())
    unknown = sorted(set(SETTING.findall(_guide())) - known)
    assert not unknown, f"the guide names settings congvan does not read: {unknown}"


# --- the guide's commands ------------------------------------------------------------------------------------


def test_every_command_in_the_guide_exists_with_its_options() -> None:
    root = _cli()
    commands = commands_in(_guide())
    problems = [p for words in commands for p in command_problems(words, root)]
    assert not problems, "\n".join(problems)
    shown = {command_name(words, root) for words in commands}
    assert shown >= ESSENTIAL, f"the guide never shows: {sorted(ESSENTIAL - shown)}"


def test_the_command_check_catches_a_misspelt_command_or_option() -> None:
    root = _cli()
    text = ("```sh\nCONGVAN_SMTP_PORT=2525 congvan dispach par-index-2022\n```\n"
            "Then `congvan roster import par-index-2022 --sheet X` and\n`congvan status par-index-2022\n"
            "--as-of 2023-02-27`.")
    commands = commands_in(text)
    assert [w[:3] for w in commands] == [["congvan", "dispach", "par-index-2022"], ["congvan", "roster", "import"],
                                         ["congvan", "status", "par-index-2022"]]
    problems = [p for words in commands for p in command_problems(words, root)]
    assert len(problems) == 2
    assert "no command 'dispach'" in problems[0]
    assert "has no option '--sheet'" in problems[1]


# --- the guide's YAML examples -------------------------------------------------------------------------------


def _nested(tp: Any) -> tuple[str, type[BaseModel]] | None:
    """How a field holds models: ("one", M), ("list", M) or ("dict", M); None when it holds none."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in get_args(tp) if a is not type(None)]
            kinds = [found for a in models if (found := _nested(a)) is not None]
            return kinds[0] if kinds else None
        elif origin in (list, dict):
            inner = _nested(get_args(tp)[-1])
            return (origin.__name__, inner[1]) if inner is not None else None
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            return "one", tp
        else:
            return None


def unknown_keys(data: Any, model: type[BaseModel], where: str = "") -> list[str]:
    """Keys of ``data`` that are no field of ``model`` (recursively), as "path: key"."""
    if not isinstance(data, dict):
        return []
    problems = []
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        info = model.model_fields.get(str(key))
        if info is None:
            problems.append(f"{path}: not a field of {model.__name__}")
            continue
        found = _nested(info.annotation)
        if found is None:
            continue
        kind, inner = found
        if kind == "one":
            problems += unknown_keys(value, inner, path)
        elif kind == "list" and isinstance(value, list):
            for i, item in enumerate(value):
                problems += unknown_keys(item, inner, f"{path}[{i}]")
        elif kind == "dict" and isinstance(value, dict):
            for k, item in value.items():
                problems += unknown_keys(item, inner, f"{path}.{k}")
    return problems


def _root_model(data: dict[str, Any]) -> type[BaseModel]:
    if "authorities" in data:
        return config.AuthoritiesFile
    if "units" in data or "groups" in data:
        return config.UnitsFile
    return config.Campaign


def _complete(data: dict[str, Any], model: type[BaseModel]) -> bool:
    return all(name in data for name, info in model.model_fields.items() if info.is_required())


def _yaml_examples() -> list[tuple[str, dict[str, Any]]]:
    """(text, data) of every YAML block of the guide."""
    examples = []
    for info, body in code_blocks(_guide()):
        if info in ("yaml", "yml"):
            data = yaml.safe_load(body)
            assert isinstance(data, dict), f"a YAML example is not a mapping of fields:\n{body}"
            examples.append((body, data))
    return examples


def test_the_yaml_examples_parse_and_use_only_real_fields() -> None:
    examples = _yaml_examples()
    assert len(examples) >= 4
    problems = [p for _, data in examples for p in unknown_keys(data, _root_model(data))]
    assert not problems, "\n".join(problems)


def test_the_key_check_catches_a_misspelt_field() -> None:
    data = {"follow_up": {"ladder": [{"name": "don-doc", "extnd": 2}], "calendar": {"day_off": []}},
            "kinh_gui": [{"unit": "STP", "mail": "x@y.example"}]}
    assert unknown_keys(data, config.Campaign) == [
        "follow_up.ladder[0].extnd: not a field of LadderStep",
        "follow_up.calendar.day_off: not a field of CalendarExtras",
        "kinh_gui[0].mail: not a field of RecipientRef",
    ]


def test_the_complete_authorities_and_units_examples_validate() -> None:
    checked = []
    for _, data in _yaml_examples():
        model = _root_model(data)
        if model is not config.Campaign and _complete(data, model):
            model.model_validate(data)
            checked.append(model)
    assert config.AuthoritiesFile in checked and config.UnitsFile in checked


def test_the_complete_campaign_example_validates_against_the_sample_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    campaigns = [text for text, data in _yaml_examples()
                 if _root_model(data) is config.Campaign and _complete(data, config.Campaign)]
    assert campaigns, "the guide has no complete campaign file as an example"
    for i, text in enumerate(campaigns):
        name = f"guide-example-{i}"
        (cfg / "campaigns" / f"{name}.yaml").write_text(text, encoding="utf-8")
        checked = validate_campaign(cfg, ROOT / "templates", name)  # raises ConfigError listing every problem
        assert checked.campaign.addressees, "the example addresses no unit"
