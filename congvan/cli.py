"""The command line: one library call per command; user errors are one line and exit code 2."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from congvan.cli_approval import approve, pending, reject
from congvan.cli_base import error, parse_date, settings_or_exit, starting, user_errors, visible_at_once, warning
from congvan.cli_bounces import bounces_app
from congvan.cli_setup import new as new_command
from congvan.cli_setup import units_app
from congvan.cli_sign import verify_command
from congvan.cli_status import engine_of, follow_up_campaign
from congvan.cli_status import status as status_command
from congvan.cli_store import db_app, register_app
from congvan.errors import ConfigError, CongVanError
from congvan.i18n import _, status_word
from congvan.vndate import short_date

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from congvan.config import LoadedCampaign
    from congvan.escalation import ActionResult
    from congvan.mailcatcher import MailCatcher
    from congvan.results import DispatchResult, EscalationResult
    from congvan.roster import ImportReport
    from congvan.settings import Settings

# Start-up: a command imports what it needs when it runs (SQLAlchemy, openpyxl, docxtpl, Prefect, LibreOffice
# glue), so `--help`, `check` or `status` do not pay for what only `dispatch` or `report` use.

# rich_markup_mode=None: plain Click output, so a usage error is an "Error: ..." line too, not a box.
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None,
                  help="Issue Vietnamese official dispatches (công văn) and follow them up.")


R = TypeVar("R")
AsOf = Annotated[str | None, typer.Option("--as-of", help="Act as if today were this date (YYYY-MM-DD).")]


@app.command()
def validate(campaign: Annotated[str | None, typer.Argument(help="Campaign (file stem under "
                                                                 "config/campaigns/); all if omitted.")] = None,
             ) -> None:
    """Check config, template and addresses; report every problem found.

    Example: congvan validate par-index-2022
    """
    from congvan.config import list_campaigns
    from congvan.validation import validate_campaign

    settings = settings_or_exit()
    names = [campaign] if campaign else list_campaigns(settings.config_dir)
    if not names:
        error(_("no campaigns in {folder}").format(folder=settings.config_dir / "campaigns"))
        raise typer.Exit(code=2)
    failed = False
    for name in names:
        try:
            result = validate_campaign(settings.config_dir, settings.templates_dir, name)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                error(str(problem))
            continue
        except CongVanError as exc:
            failed = True
            error(str(exc))
            continue
        typer.echo(result.summary())
        for line in result.warnings:
            warning(line)
    if failed:
        raise typer.Exit(code=2)


@app.command()
def render(campaign: Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")],
           draft: Annotated[bool, typer.Option("--draft/--issued", help="A draft leaves the number and day "
                                               "blank; --issued re-renders the issued letter.")] = True,
           out: Annotated[Path | None, typer.Option("--out", help="Folder to write to "
                                                    "(default: $CONGVAN_OUTPUT_DIR/documents).")] = None,
           as_of: AsOf = None) -> None:
    """Render the dispatch without numbering or sending it; print the path.

    Example: congvan render par-index-2022 --draft --out outputs/draft
    """
    settings = settings_or_exit()
    with user_errors():
        path = _render(settings, campaign, draft=draft, out=out, as_of=parse_date(as_of))
    typer.echo(path)  # only the path on stdout, so it can be piped


def _render(settings: Settings, campaign: str, *, draft: bool, out: Path | None,
            as_of: dt.date | None) -> Path:
    from congvan import register
    from congvan.documents import dispatch_key, render_dispatch
    from congvan.store.db import init_db, make_engine
    from congvan.validation import validate_campaign

    lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
    allocation = None
    if not draft:
        engine = make_engine(settings.database_url)
        init_db(engine)
        allocation = register.issued(engine, dispatch_key(lc.name))
    return render_dispatch(lc, templates_dir=settings.templates_dir,
                           out_dir=out or settings.output_dir / "documents",
                           allocation=allocation, planned=as_of)


@app.command()
def dispatch(campaign: Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")],
             as_of: AsOf = None,
             dry_run: Annotated[bool, typer.Option("--dry-run", help="Render and plan; send nothing, "
                                                   "allocate no number.")] = False,
             as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout "
                                                   "(logs stay on stderr).")] = False) -> None:
    """Number, render, check and mail the dispatch to every recipient, exactly once.

    A rerun sends only what is missing. Exit 0 when every delivery is sent, 1 when some failed or
    are still pending (rerun later), 2 on a user error.

    Example: congvan dispatch par-index-2022 --as-of 2023-02-10
    """
    starting("dispatch", campaign)
    from congvan.approvals import dispatch_waits
    from congvan.dispatch import preflight, sender
    from congvan.mail import SmtpConfig
    from congvan.store.db import init_db, make_engine
    from congvan.validation import validate_campaign

    settings = settings_or_exit()
    with user_errors():
        day = parse_date(as_of)
        lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
        if not dry_run:
            # Before Prefect starts and before a number is taken: a bad login, a missing LibreOffice
            # or an unreachable database is one line now, and nothing has been sent.
            engine = make_engine(settings.database_url)
            init_db(engine)
            if not dispatch_waits(engine, lc):  # a run that only drafts for the signer sends nothing
                preflight(SmtpConfig.from_settings(settings), sender(lc, settings).address,
                          need_pdf=lc.campaign.pdf)
                _signing_preflight(settings, lc, [lc.campaign.signer])
    from congvan.results import DispatchResult

    result = _run_flow("dispatch", DispatchResult, progress=not as_json, campaign=campaign, as_of=day, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_dispatch(result)
    if result.unserved():
        raise typer.Exit(code=1)


def _run_flow(name: str, kind: type[R], *, progress: bool, **parameters: Any) -> R:
    """Run a flow in this process; a run that ends Failed is a user error (one line, exit 2)."""
    # Prefect's INFO lines would bury the progress bar and the table; its warnings and errors still show.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    _patient_embedded_api()
    os.environ.setdefault("DO_NOT_TRACK", "1")  # no "Prefect collects anonymous usage data" notice on a first run
    from flows import approve as approve_flow
    from flows import dispatch as dispatch_flow
    from flows import escalate as escalate_flow

    flows: dict[str, Any] = {"dispatch": dispatch_flow.dispatch, "escalate": escalate_flow.escalate,
                             "approve": approve_flow.approve}
    bar: Any = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty():  # a log or a pipe: one line, not a bar's label without its newline
            if bar is None:
                bar = False
                typer.echo(_("Sending {total} message(s)…").format(total=total), err=True)
            return
        if bar is None:
            bar = typer.progressbar(length=total, label=_("Sending"), file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    from flows.steps import progress_to

    try:
        with progress_to(show) if progress else contextlib.nullcontext():
            state = flows[name](return_state=True, **parameters)
    finally:
        if bar is not None and bar is not False:
            bar.__exit__(None, None, None)
    from flows.steps import outcome_of

    try:
        return outcome_of(state, name, kind)
    except CongVanError as exc:
        error(str(exc))
        raise typer.Exit(code=2) from None


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


def _signing_preflight(settings: Settings, lc: LoadedCampaign, signers: list[str]) -> None:
    """With signing on, the keys of these signers and of the organisation must work now (one line if not)."""
    if settings.signing_keys is None:
        return
    from congvan.signoff import signoff_for

    signoff = signoff_for(settings, lc)
    assert signoff is not None
    signoff.preflight(signers)


def _patient_embedded_api() -> None:
    """The embedded Prefect API starts with the first flow run; on a busy machine its default 20 s wait ends
    in a traceback (seen while three test suites shared two cores)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def _print_dispatch(result: DispatchResult) -> None:
    if result.awaiting_approval:
        (waiting,) = result.awaiting_approval
        typer.echo(_("Awaiting the signer's approval (trình ký); nothing numbered, nothing sent. Draft: {path}").format(
            path=result.path))
        typer.echo("  " + _("approve: congvan approve {campaign} --by NAME   "
                            "reject: congvan reject {campaign} --unit ALL --reason TEXT").format(
            campaign=waiting.campaign))
        return
    if result.dry_run:
        typer.echo(_("Dry run: nothing sent, no number allocated. Draft: {path}").format(path=result.path))
    else:
        assert result.issued_on is not None
        typer.echo(_("Công văn số {number}/{symbol} issued {date}: {path}").format(
            number=result.number, symbol=result.symbol, date=short_date(result.issued_on), path=result.path))
    rows = result.deliveries
    width = max([len(d.unit or "-") for d in rows] + [4])
    for d in rows:
        reason = f"  {d.error}" if d.error and d.status != "sent" else ""
        typer.echo(f"  {(d.unit or '-'):<{width}}  {status_word(d.status):<16}  {d.address:<40}{reason}")
    counts = {s: result.count(s) for s in ("planned", "sent", "failed_permanent", "failed_temporary", "pending")}
    if result.dry_run:
        typer.echo(_("{count} deliveries planned").format(count=counts["planned"]))
    else:
        typer.echo(_("Sent {sent}, failed {failed}, pending {pending} (a rerun retries the pending)").format(
            sent=counts["sent"], failed=counts["failed_permanent"],
            pending=counts["failed_temporary"] + counts["pending"]))


# --- follow-up ----------------------------------------------------------------------------------------

roster_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The staff who must answer.")
responses_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The survey's response exports.")
app.add_typer(roster_app, name="roster")
app.add_typer(responses_app, name="responses")
app.add_typer(db_app, name="db")
app.add_typer(register_app, name="register")
app.add_typer(bounces_app, name="bounces")
app.command()(pending)
app.command()(approve)
app.command()(reject)
app.add_typer(units_app, name="units")
app.command("new")(new_command)
app.command("verify")(verify_command)
app.command("status")(status_command)
Campaign = Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")]


_follow_up_campaign = follow_up_campaign
_engine = engine_of


def _import(load: Callable[[], ImportReport]) -> None:
    """Run an import; a rejected file lists every problem (file, sheet, row), one line each, exit 2."""
    from congvan import roster

    try:
        report = load()
    except roster.ImportRejected as exc:
        for line in exc.report.errors:
            error(line)
        raise typer.Exit(code=2) from None
    typer.echo(report.summary())
    for line in report.warnings:
        warning(line)


@roster_app.command("import")
def roster_import(campaign: Campaign,
                  file: Annotated[Path | None, typer.Argument(help="The roster (.xlsx or .csv); default: the "
                                                              "one the campaign names.")] = None) -> None:
    """Load the staff who must answer; it replaces the campaign's roster. Importing the same file again
    changes nothing. Every row problem is listed (file, sheet, row) and then nothing is loaded.

    Example: congvan roster import par-index-2022
    """
    from congvan import roster

    settings = settings_or_exit()
    with user_errors():
        lc = _follow_up_campaign(settings, campaign)
        path = file or roster.roster_path(settings.config_dir, lc)
        _import(lambda: roster.import_roster(_engine(settings), lc, path))


@responses_app.command("import")
def responses_import(campaign: Campaign,
                     file: Annotated[Path, typer.Argument(help="A response export (.xlsx or .csv).")]) -> None:
    """Load who answered and when, from the survey's export. Idempotent; a response from someone not on
    the roster is a warning and is kept.

    Example: congvan responses import par-index-2022 exports/2023-02-21.csv
    """
    from congvan import roster

    settings = settings_or_exit()
    with user_errors():
        lc = _follow_up_campaign(settings, campaign)
        _import(lambda: roster.import_responses(_engine(settings), lc, file))


@app.command()
def escalate(campaign: Campaign, as_of: AsOf = None,
             dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be sent; record "
                                                   "and send nothing.")] = False,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    """Run the day's escalation: import new exports, then send each unit still behind the ladder step due
    today (once). Running it again the same day sends nothing new. Exit 1 if a follow-up was not sent.

    Example: congvan escalate par-index-2022 --as-of 2023-02-27
    """
    starting("escalate", campaign)
    from congvan.dispatch import preflight, sender
    from congvan.mail import SmtpConfig
    from congvan.store.db import init_db, make_engine

    settings = settings_or_exit()
    with user_errors():
        day = parse_date(as_of)
        lc = _follow_up_campaign(settings, campaign)
        init_db(make_engine(settings.database_url))
        if not dry_run:  # as for dispatch: a mail server that cannot be used stops the run before Prefect starts
            preflight(SmtpConfig.from_settings(settings), sender(lc, settings).address, need_pdf=lc.campaign.pdf)
        else:  # a dry run imports nothing: say what a real run would import first
            _say_waiting(settings, lc)
    from congvan.results import EscalationResult

    result = _run_flow("escalate", EscalationResult, progress=False, campaign=campaign, as_of=day, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_escalation(result)
    if any(a.status not in ("sent", "planned", "held", "awaiting_approval") for a in result.actions):
        raise typer.Exit(code=1)


def _say_waiting(settings: Settings, lc: LoadedCampaign) -> None:
    from congvan import roster
    from congvan.cli_status import waiting_line

    folder = roster.responses_dir(settings.config_dir, lc)
    waiting = roster.waiting_exports(_engine(settings), lc, folder) if folder is not None else []
    if waiting:
        typer.echo(waiting_line(lc.name, waiting, "escalate"), err=True)


def _print_escalation(result: EscalationResult) -> None:
    for line in result.imports:
        typer.echo(_("Imported {summary}").format(summary=line))
    truth = result.bounces
    for line in truth.reports:
        typer.echo(_("Report: {line}").format(line=line))
    for f in truth.fallbacks:
        typer.echo(f"  {f.unit or '-':<8} " + _("dispatch to fallback {address}: {status}").format(
            address=f.address, status=status_word(f.status)))
    if truth.alerted:
        typer.echo(_("Alerted the coordinator about {count} new bounce(s)").format(count=truth.alerted))
    if result.day_off:
        typer.echo(_("{date}: not a working day ({reason}); nothing sent").format(date=short_date(result.as_of),
                                                                                 reason=result.day_off))
        return
    if not result.actions:
        typer.echo(_("{date}: nothing due").format(date=short_date(result.as_of)))
        return
    print_actions(result.as_of, result.actions, dry_run=result.dry_run)


def print_actions(as_of: dt.date, actions: Sequence[ActionResult], *, dry_run: bool) -> None:
    """The follow-ups of a day, one line each, and the count (escalate, and approve for the letters it issues)."""
    for a in actions:
        number = f" số {a.number}" if a.number else ""
        error = f"  {a.error}" if a.error else ""
        if dry_run and a.files:
            error += "  " + _("draft: {path}").format(path=a.files[0])
        typer.echo(f"  {(a.unit or 'ALL'):<8} {a.step:<12} {a.kind:<7}{number:<20} "
                   f"{status_word(a.status):<9} {', '.join(a.to)}{error}")
    done = sum(1 for a in actions if a.status in ("sent", "planned"))
    waiting = sum(1 for a in actions if a.status == "awaiting_approval")
    also = _("; {count} drafted, awaiting the signer's approval (congvan pending)").format(count=waiting) \
        if waiting else ""
    line = (_("{date}: {done} of {total} follow-up(s) planned") if dry_run
            else _("{date}: {done} of {total} follow-up(s) sent"))
    typer.echo(line.format(date=short_date(as_of), done=done, total=len(actions)) + also)


@app.command()
def report(campaign: Campaign, as_of: AsOf = None,
           out: Annotated[Path | None, typer.Option("--out", help="Folder to write to "
                                                    "(default: $CONGVAN_OUTPUT_DIR/reports).")] = None) -> None:
    """The compliance report: a Decree-30 báo cáo (.docx, with a chart) and the same data as .xlsx.
    A draft (number left blank); the ladder's report step issues a numbered one.

    Example: congvan report par-index-2022 --as-of 2023-03-03
    """
    from congvan import compliance, register
    from congvan.documents import dispatch_key
    from congvan.report import write_report

    settings = settings_or_exit()
    with user_errors():
        day = parse_date(as_of) or dt.date.today()
        lc = _follow_up_campaign(settings, campaign)
        engine = _engine(settings)
        dispatch_allocation = register.lookup(engine, dispatch_key(lc.name))
        files = write_report(lc, compliance.compute(engine, lc, day), templates_dir=settings.templates_dir,
                             out_dir=out or settings.output_dir / "reports", dispatch=dispatch_allocation,
                             planned=day, receipts=_receipts(engine, lc))
    typer.echo(files.docx)
    typer.echo(files.xlsx)


def _receipts(engine: Engine, lc: LoadedCampaign) -> dict[str, str]:
    from congvan import bounces

    return {code: d.status for code, d in bounces.unit_deliveries(engine, lc).items()}


@app.command()
def serve() -> None:
    """Serve the Prefect deployments: dispatch (on demand) and, for every campaign with a follow-up that
    has not closed, its escalation on cron 0 8 * * 1-5 in Asia/Ho_Chi_Minh (one run at a time per
    campaign; days off in Vietnam are skipped by the run itself). Needs a Prefect server
    (PREFECT_API_URL): the embedded one cannot schedule.

    Example: congvan serve
    """
    settings = settings_or_exit()
    with user_errors():
        from flows.serve import deployments, serve_all

        found = deployments(settings, dt.date.today())
        for deployment in found:
            typer.echo(_("Serving {name}").format(name=deployment.name), err=True)
        serve_all(found)


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


@app.command()
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
        _patient_embedded_api()
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


@app.command()
def check(files: Annotated[list[Path], typer.Argument(help="The .docx files to check.")]) -> None:
    """The Decree-30 checker: one line per violation with its rule id; exit 1 if any.

    Example: congvan check outputs/demo/par-index-2022_du-thao.docx
    """
    from congvan import nd30

    found = 0
    with user_errors():
        for path in files:
            violations = nd30.check(path, kind=None)
            found += len(violations)
            for v in violations:
                typer.echo(f"{path}: {nd30.format_violation(v)}")
            if not violations:
                typer.echo(f"{path}: " + _("OK"), err=True)
    if found:
        raise typer.Exit(code=1)


@app.command()
def mailcatcher(port: Annotated[int | None, typer.Option("--port", help="Port on 127.0.0.1 to listen on (default: "
                                                              "CONGVAN_SMTP_PORT, where congvan sends).")] = None,
                bounce: Annotated[list[str] | None, typer.Option(
                    "--bounce", help="Accept mail for this address, then return it with a delivery report in "
                    "mailbox/returned/ (repeatable).")] = None) -> None:
    """A local SMTP server that stores every message it accepts in outputs/mailbox/ as .eml.

    Example: congvan mailcatcher --port 1025
    """
    from congvan.mailcatcher import CatcherOptions, default_mailbox, serve_forever

    settings = settings_or_exit()
    mailbox = default_mailbox(settings)

    def ready(catcher: MailCatcher) -> None:
        typer.echo(_("Mail catcher on {host}:{port}, storing messages in {mailbox} (Ctrl-C to stop)").format(
            host=catcher.host, port=catcher.port, mailbox=mailbox), err=True)

    with user_errors():
        serve_forever(mailbox, "127.0.0.1", settings.smtp_port if port is None else port, on_ready=ready,
                      options=CatcherOptions(bounce_rcpts=frozenset(bounce or ())))


def main(argv: list[str] | None = None) -> None:
    from congvan.cli_i18n import run

    with visible_at_once():
        run(app, argv if argv is not None else sys.argv[1:])

