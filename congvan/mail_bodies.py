"""The text and HTML bodies of a mail, from the Jinja templates in ``templates/mail/``.

Both bodies come from the same context; the HTML is autoescaped and the text is not, so a unit
named "Sở Tài nguyên & Môi trường" reads the same in both. A missing value is an error naming it.

The templates run in Jinja's sandbox, and a template that names an attribute starting with "_"
(``{{ ''.__class__.__mro__ }}``, ``{{ cycler.__init__.__globals__ }}``) is refused when it is loaded,
even in a branch that would not run: a mail template has no business with Python's internals.
Whatever a template's own expressions raise (``{{ 1 / 0 }}``, a range the sandbox refuses) is a
``TemplateError`` naming the file, never a traceback.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from congvan.content_cache import ContentCache
from congvan.errors import TemplateError
from congvan.i18n import _
from congvan.text import one_line, sanitize

MAIL_DIR = "mail"
SUFFIXES = ((".txt", False), (".html", True))  # (file suffix, autoescaped)
# A mail template is named by its file stem in templates/mail/ ("nhac_nho"), never by a path.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# What a template's own expressions may raise at run time (the sandbox's refusals are SecurityError).
_RUNTIME_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError, RecursionError)


@lru_cache(maxsize=8)
def _environment(folder: Path, html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=html,
                                undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _private_names(tree: nodes.Template) -> list[tuple[str, int]]:
    """Every ``_name`` the template reaches for: ``x._y``, ``x['_y']``, ``x|attr('_y')``, with its line."""
    found: list[tuple[str, int]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            names = [node.attr]
        elif isinstance(node, nodes.Getitem):
            names = [node.arg.value] if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) else []
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            names = [a.value for a in node.args if isinstance(a, nodes.Const) and isinstance(a.value, str)]
        else:
            names = []
        found += [(name, node.lineno) for name in names if name.startswith("_")]
    return found


# Compiled templates by their source (and whether HTML): each template compiled once per process, whichever copy
# of the templates folder it comes from. One that loads others ({% include %}…) is bound to its own folder.
_CHECKED: ContentCache[jinja2.Template] = ContentCache(64)
_LOADS_OTHERS = re.compile(r"{%[-+]?\s*(?:include|extends|import|from)\b")


def _checked(folder: Path, file: str, html: bool) -> jinja2.Template:
    """The compiled template, once its source has been read for private names."""
    path = folder / file
    source = path.read_text(encoding="utf-8")
    where = str(folder) if _LOADS_OTHERS.search(source) else ""
    key = "\0".join((where, "html" if html else "text", source)).encode("utf-8", "surrogatepass")
    return _CHECKED.get(key, lambda _key: _compile(folder, file, source, html))


def _compile(folder: Path, file: str, source: str, html: bool) -> jinja2.Template:
    env = _environment(folder, html)
    tree = env.parse(source, file)
    private = _private_names(tree)
    if private:
        line = min(n for _, n in private)
        # find_all walks outside in ("x.__class__.__mro__" gives __mro__ first): reversed, names read as written.
        names = list(dict.fromkeys(name for name, n in reversed(private) if n == line))
        raise TemplateError(_("not allowed in a mail template: line {line} reaches into Python's internals "
                              "({names})").format(line=line, names=", ".join(map(repr, names))), template=folder / file)
    return env.from_string(tree)  # the tree just read: parsed once


def _template(folder: Path, file: str, html: bool) -> jinja2.Template:
    path = folder / file
    try:
        return _checked(folder, file, html)
    except (FileNotFoundError, jinja2.TemplateNotFound):
        raise TemplateError(_("mail template not found"), template=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(_("the mail template cannot be read: {error}").format(error=exc), template=path) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(_("the mail template is broken: {error} (line {line})").format(
            error=exc.message, line=exc.lineno), template=path) from None


def _folder(templates_dir: Path, name: str) -> Path:
    folder = (templates_dir / MAIL_DIR).resolve()
    if not _NAME.fullmatch(name) or ".." in name:
        raise TemplateError(_("not a mail template name (a file stem in the mail templates folder)"),
                            template=Path(one_line(name)))
    return folder


def check_bodies(templates_dir: Path, name: str) -> None:
    """Load both templates of ``name`` as ``render_bodies`` would; ``TemplateError`` if one is missing, broken
    or reaches for Python's internals. For checking a campaign before anything is numbered or sent."""
    folder = _folder(templates_dir, name)
    for suffix, html in SUFFIXES:
        _template(folder, f"{name}{suffix}", html)


def render_bodies(templates_dir: Path, name: str, context: dict[str, Any]) -> tuple[str, str]:
    """(text, html) of mail template ``name`` (``templates/mail/NAME.txt`` and ``NAME.html``)."""
    folder = _folder(templates_dir, name)
    context = sanitize(context)
    bodies = []
    for suffix, html in SUFFIXES:
        file = f"{name}{suffix}"
        path = folder / file
        template = _template(folder, file, html)
        try:
            bodies.append(template.render(context))
        except SecurityError as exc:
            raise TemplateError(_("not allowed in a mail template: {error}").format(error=exc), template=path) from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(_("the mail template needs a value it was not given: {error}").format(
                error=exc.message), template=path) from None
        except jinja2.TemplateError as exc:
            raise TemplateError(_("the mail template is broken: {error}").format(error=exc), template=path) from None
        except _RUNTIME_ERRORS as exc:
            raise TemplateError(_("the mail template failed: {kind}: {error}").format(
                kind=type(exc).__name__, error=exc), template=path) from None
    return bodies[0], bodies[1]


def missing_bodies(templates_dir: Path, name: str) -> list[Path]:
    folder = templates_dir / MAIL_DIR
    return [p for p in (folder / f"{name}.txt", folder / f"{name}.html") if not p.is_file()]
