"""``congvan verify``: the digital signatures of issued PDFs, checked (docs/design.md §4.5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.cli_base import settings_or_exit, user_errors
from congvan.i18n import _

if TYPE_CHECKING:
    from congvan.signing.verify import SignatureVerdict

ROLES = {"signer": "người ký", "organisation": "cơ quan"}  # Vietnamese terms, in either language


def _yes(value: bool | None) -> str:
    return "-" if value is None else (_("yes") if value else _("NO"))


def _when(sig: SignatureVerdict) -> str:
    from congvan.vndate import VIETNAM

    if sig.signed_at is None:
        return "?"
    return sig.signed_at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S %z").replace("+0700", "+07:00")


def verify_command(
        files: Annotated[list[Path], typer.Argument(help="Signed PDF files.", show_default=False)],
        trust_roots: Annotated[Path | None, typer.Option(
            "--trust-roots", help="Trusted root certificates (PEM file or folder); default CONGVAN_TRUST_ROOTS.")]
        = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON.")] = False) -> None:
    """Check every digital signature of each PDF: who signed, as signer (người ký) or organisation (cơ quan),
    when, whether the document is intact and covered, whether the chain reaches a trusted root, the timestamp.
    Exit 1 if any signature fails or a file has none.

    Example: congvan verify outputs/documents/par-index-2022/cong-van.pdf --trust-roots root.pem
    """
    import logging

    from congvan.signing.verify import verify

    # pyHanko logs each untrusted path with a traceback; the verdict already says it, in one line
    logging.getLogger("pyhanko").addHandler(logging.NullHandler())
    logging.getLogger("pyhanko").propagate = False
    roots = trust_roots
    if roots is None:
        roots = settings_or_exit().trust_roots
    with user_errors():
        verdicts = verify(files, trust_roots=roots)
    if as_json:
        typer.echo(json.dumps({"files": [v.as_json() for v in verdicts]}, ensure_ascii=False, indent=2))
    else:
        for v in verdicts:
            typer.echo(f"{v.path}: {_('OK') if v.ok else _('FAILED')}")
            if not v.signatures:
                typer.echo("  " + _("no digital signature"))
            for i, s in enumerate(v.signatures, 1):
                typer.echo(f"  {i}. {s.signer} ({ROLES[s.role]}), {_when(s)}: " + _(
                    "intact {intact}, coverage {coverage} (after it: {modifications}), trusted {trusted}, "
                    "timestamp {timestamp}").format(
                    intact=_yes(s.intact and s.valid), coverage=s.coverage, modifications=s.modifications,
                    trusted=_yes(s.trusted), timestamp=_yes(s.timestamp_ok) if s.timestamped else _("none"))
                    + (f"; {s.problem}" if s.problem else ""))
        if roots is None:
            typer.echo(_("No trust roots given (--trust-roots or CONGVAN_TRUST_ROOTS): no chain can be trusted."),
                       err=True)
    if not all(v.ok for v in verdicts):
        raise typer.Exit(code=1)
