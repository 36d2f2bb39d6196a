"""The docs follow the code. The design (docs/design.md) is in the repository: every "docs/design.md §n" citation in
code, tests, bench and docs names a heading that exists, no file cites a document outside the repository, every
path the design names exists, and every module is in its module table. The coordinator's guide
(docs/huong-dan-su-dung.md) and the config reference (docs/config-reference.md) follow the code: the reference is
exactly what ``congvan.config_reference`` renders from the models and names every field and every CONGVAN_*
setting; the guide names every setting, shows only commands and options the CLI has, and its YAML examples use only
real fields (the complete files validate against the sample config)."""

from __future__ import annotations

import difflib
import functools
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
from congvan.config import models
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
    return [cls for _, cls in inspect.getmembers(models, inspect.isclass)
            if issubclass(cls, BaseModel) and cls.__module__ == models.__name__ and not cls.__name__.startswith("_")]


def test_the_reference_walks_every_model_of_the_config() -> None:
    walked = set(config_models())
    missing = [m.__name__ for m in _config_module_models() if m not in walked]
    assert not missing, f"models in congvan/config/models.py the reference does not reach from its FILES: {missing}"


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
    # The guide's example is the sample campaign itself: beside its original, validate would rightly say that the
    # two share a roster and a responses folder.
    (cfg / "campaigns" / "par-index-2022.yaml").unlink()
    campaigns = [text for text, data in _yaml_examples()
                 if _root_model(data) is config.Campaign and _complete(data, config.Campaign)]
    assert campaigns, "the guide has no complete campaign file as an example"
    for i, text in enumerate(campaigns):
        name = f"guide-example-{i}"
        (cfg / "campaigns" / f"{name}.yaml").write_text(text, encoding="utf-8")
        checked = validate_campaign(cfg, ROOT / "templates", name)  # raises ConfigError listing every problem
        assert checked.campaign.addressees, "the example addresses no unit"


# --- the design, and every citation of a document ------------------------------------------------------------

DESIGN = ROOT / "docs" / "design.md"
# What is scanned for citations: the repository's own text files (not the venv, caches or what runs produce).
SKIP_DIRS = {".git", ".venv", "venv", "outputs", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
             "build", "dist", "node_modules"}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", ".txt", ".html", ".mako"}
TEXT_NAMES = {"Makefile", "run"}
# A run of section references, with the document (or RFC) it belongs to when one is written just before it:
# "docs/design.md §1, §8.1", "operations.md §3", "RFC 2047 §6.2"; in a Markdown page, a bare one is its own.
SECTIONS = re.compile(r"§[ \t]?\d+(?:\.\d+)*(?:[ \t]*(?:,|and)[ \t]*§[ \t]?\d+(?:\.\d+)*)*")
OWNER = re.compile(r"(?:(?P<doc>[\w./-]+\.md)|(?P<rfc>RFC[ \t]?\d+))[ \t]*$")
SECTION_NUMBER = re.compile(r"§[ \t]?(\d+(?:\.\d+)*)")
HEADING_NUMBER = re.compile(r"^#{1,6}[ \t]+(\d+(?:\.\d+)*)\.?[ \t]", re.MULTILINE)
# Any mention of a Markdown file: "docs/design.md", "config-reference.md" (not inside a URL's path).
MARKDOWN_FILE = re.compile(r"\.md\b")
MARKDOWN_NAME = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w-][\w.-]*)$")
# Citations of the design as it was before it moved into the repository (docs/design.md).
OUTSIDE = [
    (re.compile(r"\bDESIGN(?:\.md)?[ \t]*§"), "cites the old design page: cite docs/design.md §n"),
    (re.compile(r"/work/(?:shared|main)\b"), "names a path on one machine, outside the repository"),
]


def repo_text_files() -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES:
                found.append(path)
    return found


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _resolve_doc(name: str, citing: Path) -> Path | None:
    """A Markdown file named in ``citing``: relative to the repository root or to the citing file's folder, or
    a file of the repository whose path ends with it (``"config-reference.md"`` in code that joins the folder)."""
    for base in (ROOT, citing.parent):
        candidate = (base / name).resolve()
        if candidate.is_file() and candidate.is_relative_to(ROOT):
            return candidate
    return next((path for path in _markdown_files() if path.as_posix().endswith("/" + name.lstrip("./"))), None)


@functools.cache
def _markdown_files() -> tuple[Path, ...]:
    return tuple(path for path in repo_text_files() if path.suffix == ".md")


def section_numbers(markdown: str) -> set[str]:
    """"3" and "3.2" for headings "## 3. State" and "### 3.2 Invariants"."""
    return set(HEADING_NUMBER.findall(markdown))


def _section_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def citation_problems(path: Path, text: str) -> list[str]:
    """Every section reference in ``text`` that does not resolve, and every citation of a file outside the repo."""
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    problems: list[str] = []
    lines = text.splitlines()

    def where(offset: int) -> str:
        line = text.count("\n", 0, offset) + 1
        return f"{shown}:{line}: {lines[line - 1].strip()[:100]!r}"

    for m in SECTIONS.finditer(text):
        owner = OWNER.search(text, text.rfind("\n", 0, m.start()) + 1, m.start())
        if owner and owner["rfc"]:
            continue
        if owner and owner["doc"]:
            target = _resolve_doc(owner["doc"], path)
            if target is None:
                problems.append(f"{where(m.start())}: {owner['doc']} is not a file in the repository")
                continue
        elif path.suffix == ".md":
            target = path  # a bare § in a Markdown page is one of its own sections
        else:
            problems.append(f"{where(m.start())}: a section sign with no document: write docs/design.md §n")
            continue
        headings = section_numbers(target.read_text(encoding="utf-8"))
        for number in SECTION_NUMBER.findall(m[0]):
            if number not in headings:
                problems.append(f"{where(m.start())}: {target.relative_to(ROOT)} has no section {number} "
                                f"(its sections: {', '.join(sorted(headings, key=_section_key))})")
    for m in MARKDOWN_FILE.finditer(text):
        name = MARKDOWN_NAME.search(text, text.rfind("\n", 0, m.start()) + 1, m.start())
        if name is not None and _resolve_doc(name[1] + ".md", path) is None:
            problems.append(f"{where(m.start())}: cites {name[1]}.md, which is not in the repository")
    for pattern, why in OUTSIDE:
        problems += [f"{where(m.start())}: {why}" for m in pattern.finditer(text)]
    return problems


def test_the_design_is_in_the_repository_with_its_sections() -> None:
    numbers = section_numbers(DESIGN.read_text(encoding="utf-8"))
    # The job, layout, state, documents, mail, settings, CLI, flows, errors, this wave; and the subsections
    # the code cites most.
    assert {str(n) for n in range(1, 11)} <= numbers
    assert {"1.1", "3.2", "4.1", "4.2", "4.4", "5.2", "8.4"} <= numbers


def test_every_citation_of_a_document_resolves_inside_the_repository() -> None:
    """``docs/design.md §3`` names a heading of docs/design.md, and a bare ``§n`` in a doc one of its own; no file
    cites a Markdown file the repository does not have, nor the design page that lived outside it."""
    files = repo_text_files()
    assert DESIGN in files and ROOT / "congvan" / "register.py" in files
    problems = [p for path in files if (text := _text(path)) is not None for p in citation_problems(path, text)]
    assert not problems, "\n".join(problems)
    citing = [path for path in files if "docs/design.md §" in (_text(path) or "")]
    assert len(citing) >= 15, "the modules cite the design by section"


def test_the_citation_check_catches_what_does_not_resolve(tmp_path: Path) -> None:
    # Built from pieces, so that this file does not cite what it shows.
    sign, outside, nowhere = "§", "reference/docx-pdf" + ".md", "docs/nowhere" + ".md"
    text = (f'"""Ledger (docs/design.md {sign}3.2, {sign}42). See DESIGN {sign}3, {outside} {sign}1.8 and '
            f"{nowhere}; RFC 2047 {sign}6.2 is fine, ({sign}3.1) is not.\n"
            "Also /work/" + 'shared/x, operations.md."""\n')
    problems = citation_problems(tmp_path / "module.py", text)
    joined = "\n".join(problems)
    assert "docs/design.md has no section 42" in joined
    assert "section 3.2" not in joined
    assert "cites the old design page" in joined
    assert f"{outside} is not a file in the repository" in joined
    assert f"cites {outside}, which is not in the repository" in joined
    assert f"cites {nowhere}, which is not in the repository" in joined
    assert "a section sign with no document" in joined
    assert "outside the repository" in joined
    # 8: the old-style citation is also a section sign with no document; none for the RFC's section, nor for
    # operations.md (docs/operations.md).
    assert len(problems) == 8, joined


_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*(\.\w+)?$")
_TOP = ("congvan/", "flows/", "tests/", "bench/", "templates/", "config/", "docs/", "scripts/")


def design_paths(markdown: str) -> list[str]:
    """Repository paths the design names in code spans (`congvan/store/schema.py`, `flows/escalate.py::escalate`),
    except those with a placeholder (`config/campaigns/NAME.yaml`)."""
    paths = []
    for span in INLINE.findall(FENCE.sub("", markdown)):
        path = span.split("::")[0].strip()
        if not path.startswith(_TOP) or " " in path:
            continue
        if any(_PLACEHOLDER.match(part) for part in path.rstrip("/").split("/")):
            continue
        paths.append(path)
    return paths


def test_every_path_the_design_names_exists() -> None:
    paths = design_paths(DESIGN.read_text(encoding="utf-8"))
    assert "congvan/store/migrations/versions/" in paths and "config/campaigns/NAME.yaml" not in paths
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert not missing, f"docs/design.md names paths that do not exist (update it with the code): {missing}"


def _section_text(markdown: str, number: str) -> str:
    start = re.search(rf"^## {number}\.[ \t].*$", markdown, re.MULTILINE)
    assert start is not None, f"no section {number}"
    end = re.search(r"^## \d+\.[ \t]", markdown[start.end():], re.MULTILINE)
    return markdown[start.end(): start.end() + end.start()] if end else markdown[start.end():]


def test_every_module_is_in_the_design_module_table() -> None:
    """A new or renamed module of congvan/ or flows/ gets its line in docs/design.md §2 (a subpackage: its folder)."""
    named = {word for span in INLINE.findall(FENCE.sub("", _section_text(DESIGN.read_text(encoding="utf-8"), "2")))
             for word in span.replace(",", " ").split()}
    missing = []
    for package in ("congvan", "flows"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT / package)
            if len(relative.parts) > 1:
                if f"{relative.parts[0]}/" not in named:
                    missing.append(f"{package}/{relative.parts[0]}/")
            elif relative.name not in ("__init__.py", "__main__.py") and relative.name not in named:
                missing.append(f"{package}/{relative}")
    assert not missing, f"modules missing from the table in docs/design.md §2: {sorted(set(missing))}"
