"""The text and HTML bodies of a mail, from the Jinja templates in ``templates/mail/``.

Both bodies come from the same context; the HTML is autoescaped and the text is not, so a unit
named "Sở Tài nguyên & Môi trường" reads the same in both. A missing value is an error naming it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from congvan.errors import TemplateError
from congvan.text import sanitize

MAIL_DIR = "mail"


@lru_cache(maxsize=8)
def _environment(folder: Path, html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=html,
                                undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render_bodies(templates_dir: Path, name: str, context: dict[str, Any]) -> tuple[str, str]:
    """(text, html) of mail template ``name`` (``templates/mail/NAME.txt`` and ``NAME.html``)."""
    folder = (templates_dir / MAIL_DIR).resolve()
    context = sanitize(context)
    bodies = []
    for suffix, html in ((".txt", False), (".html", True)):
        path = folder / f"{name}{suffix}"
        try:
            bodies.append(_environment(folder, html).get_template(path.name).render(context))
        except jinja2.TemplateNotFound:
            raise TemplateError("mail template not found", template=path) from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"the mail template needs a value it was not given: {exc.message}",
                                template=path) from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the mail template is broken: {exc}", template=path) from None
    return bodies[0], bodies[1]


def missing_bodies(templates_dir: Path, name: str) -> list[Path]:
    folder = templates_dir / MAIL_DIR
    return [p for p in (folder / f"{name}.txt", folder / f"{name}.html") if not p.is_file()]
