"""``congvan roster import`` / ``responses import`` / ``report``: who must answer, who has, and the report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.cli_base import AsOf, Campaign, error, parse_date, settings_or_exit, user_errors, warning
from congvan.cli_status import engine_of, follow_up_campaign

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from congvan.config import LoadedCampaign
    from congvan.roster import ImportReport

roster_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The staff who must answer.")
responses_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The survey's response exports.")


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
        lc = follow_up_campaign(settings, campaign)
        path = file or roster.roster_path(settings.config_dir, lc)
        _import(lambda: roster.import_roster(engine_of(settings), lc, path))


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
        lc = follow_up_campaign(settings, campaign)
        _import(lambda: roster.import_responses(engine_of(settings), lc, file))


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
        lc = follow_up_campaign(settings, campaign)
        engine = engine_of(settings)
        dispatch_allocation = register.lookup(engine, dispatch_key(lc.name))
        files = write_report(lc, compliance.compute(engine, lc, day), templates_dir=settings.templates_dir,
                             out_dir=out or settings.output_dir / "reports", dispatch=dispatch_allocation,
                             planned=day, receipts=_receipts(engine, lc))
    typer.echo(files.docx)
    typer.echo(files.xlsx)


def _receipts(engine: Engine, lc: LoadedCampaign) -> dict[str, str]:
    from congvan import bounces

    return {code: d.status for code, d in bounces.unit_deliveries(engine, lc).items()}
