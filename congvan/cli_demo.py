"""``congvan demo``: the whole story on the embedded defaults, in outputs/demo/ (flows/demo.py tells it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from congvan.cli_base import settings_or_exit, starting, user_errors
from congvan.cli_flow import patient_embedded_api
from congvan.i18n import _

if TYPE_CHECKING:
    from congvan.config import LoadedCampaign


DEMO_CAMPAIGN = "par-index-2022"
DEMO_KEY_PASSWORD = "demo-only"  # of the throwaway test keys the demo makes under outputs/demo/pki/


def _demo_pki(lc: LoadedCampaign, folder: Path) -> None:
    """A throwaway test PKI (root, the authority, each of its signers) and sample images, and the settings
    that make the demo sign with it: every PDF it issues carries both signatures."""
    from congvan.signing.testpki import PASSWORD_ENV, make_test_pki

    signers = {key: s.name for key, s in lc.authority.signers.items()}
    titles = {key: s.lines[-1] for key, s in lc.authority.signers.items()}
    keyring = make_test_pki(folder, lc.authority.name, authority=lc.authority_key, signers=signers, titles=titles,
                            password=DEMO_KEY_PASSWORD)
    os.environ.update({"CONGVAN_SIGNING_KEYS": str(keyring), "CONGVAN_TRUST_ROOTS": str(folder / "root.pem"),
                       PASSWORD_ENV: DEMO_KEY_PASSWORD})
    os.environ.pop("CONGVAN_TSA_URL", None)


def demo() -> None:
    """The whole story on the embedded defaults, in outputs/demo/ (wiped first): a mail catcher; the sample
    campaign's dispatch numbered, rendered, checked and mailed to every unit; then simulated days in which
    responses arrive (some units lag), each day's escalation run, and the final report.

    Example: congvan demo
    """
    starting("demo", DEMO_CAMPAIGN)
    from congvan.documents import render_dispatch
    from congvan.validation import validate_campaign
    from congvan.vndate import short_date

    settings = settings_or_exit()
    demo_dir = settings.output_dir / "demo"
    with user_errors():
        checked = validate_campaign(settings.config_dir, settings.templates_dir, DEMO_CAMPAIGN)
        typer.echo(checked.summary())
        lc = checked.campaign
        shutil.rmtree(demo_dir, ignore_errors=True)
        draft = render_dispatch(lc, templates_dir=settings.templates_dir, out_dir=demo_dir / "draft")
        typer.echo(_("Draft for signature: {path}").format(path=draft))
        # The demo's own world: its database, documents and mail server, whatever .env says.
        os.environ.update(CONGVAN_OUTPUT_DIR=str(demo_dir), CONGVAN_DATABASE_URL=f"sqlite:///{demo_dir / 'congvan.db'}")
        for name in ("CONGVAN_SMTP_USER", "CONGVAN_SMTP_PASSWORD", "CONGVAN_SMTP_FROM"):
            os.environ.pop(name, None)
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        patient_embedded_api()
        _demo_pki(lc, demo_dir / "pki")
        typer.echo(_("Test PKI (TEST certificates, no legal value) and the signers' images: {path}").format(
            path=demo_dir / "pki"))
        os.environ.setdefault("DO_NOT_TRACK", "1")
        from flows.demo import run_story

        story = run_story(lc, demo_dir, typer.echo)
    result = story.dispatch
    assert result is not None and result.issued_on is not None
    details = result.deliveries
    units = {d.unit for d in details if d.unit and d.status == "sent"}
    copies = sum(1 for d in details if not d.unit and d.status == "sent")
    typer.echo(_("Dispatch: Công văn số {number}/{symbol} ngày {date}, served {served} of {units} units (+{copies} "
                 "copies)").format(number=result.number, symbol=result.symbol, date=short_date(result.issued_on),
                                   served=len(units), units=len(lc.addressees), copies=copies))
    for line in story.bounced:
        typer.echo("  " + _("bounced: {line}; sent again to the unit's fallback by the first daily run").format(
            line=line))
    typer.echo(f"  .docx: {result.path}")
    pdfs = sorted(Path(result.path).parent.glob("*.pdf"))
    if pdfs:
        typer.echo(f"  PDF:   {pdfs[0]}")
    letters = sorted((demo_dir / "documents" / lc.name / "letters").glob("*.pdf"))
    typer.echo(_("Follow-up letters: {count} in {folder}").format(count=len(letters),
                                                                folder=demo_dir / "documents" / lc.name / "letters"))
    signed, unsigned = _demo_signatures(demo_dir)
    typer.echo(signed)
    typer.echo(_("Report: {path} (and .xlsx beside it)").format(path=story.report))
    typer.echo(_("Mail: {count} .eml files in {folder} (open any in a mail client)").format(
        count=story.messages, folder=demo_dir / "mailbox"))
    typer.echo(_("Register (sổ văn bản đi): {count} document(s) in {path}").format(count=story.register_rows,
                                                                                   path=story.register))
    for path in unsigned:
        typer.echo("  " + _("does not verify: {path}").format(path=path))
    # Each as the dict of its fields: the line a failed demo prints, unchanged since the results were dicts.
    failed: list[dict[str, Any]] = [vars(d) for d in details if d.status != "sent"]
    failed += [{"unsigned": p} for p in unsigned]
    failed += [vars(a) for _, day in story.days if day for a in day.actions if a.status not in ("sent", "moot")]
    for d in failed:
        typer.echo("  " + _("not sent: {detail}").format(detail=d))
    if failed:
        raise typer.Exit(code=1)


def _demo_signatures(demo_dir: Path) -> tuple[str, list[str]]:
    """Every PDF the demo issued, verified as `congvan verify` does; and those that do not verify."""
    from congvan.signing import verify

    pdfs = sorted(p for p in (demo_dir / "documents").rglob("*.pdf"))
    verdicts = verify(pdfs, trust_roots=demo_dir / "pki" / "root.pem")
    good = sum(1 for v in verdicts if v.ok)
    both = sum(1 for v in verdicts if v.ok and {s.role for s in v.signatures} == {"signer", "organisation"})
    line = _("Signed PDFs: {good} of {total} verify ({both} with the signer's and the organisation's signature, the "
             "rest attachments signed by the organisation); check one: congvan verify --trust-roots {roots} {pdf}")
    line = line.format(
        good=good, total=len(pdfs), both=both, roots=demo_dir / "pki" / "root.pem",
        pdf=min(pdfs, key=lambda p: len(p.parts)) if pdfs else "")
    return line, [str(v.path) for v in verdicts if not v.ok]
