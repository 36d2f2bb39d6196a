"""Setting up: ``congvan new NAME --from CAMPAIGN`` (a campaign of one's own) and ``congvan units …``
(units.yaml ⇄ an Excel table)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from congvan.cli_base import error, parse_date, settings_or_exit, user_errors
from congvan.errors import ConfigError
from congvan.i18n import _

units_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="The units (units.yaml) as an Excel table: export it, edit it in Excel, import it back.")


def new(name: Annotated[str, typer.Argument(help="The new campaign's name (a file stem: letters, digits, '.', "
                                                 "'-', '_').")],
        source: Annotated[str, typer.Option("--from", help="The campaign to start from (under "
                                                           "config/campaigns/).")],
        units: Annotated[list[str] | None, typer.Option("--units", help="The units in 'Kính gửi', by their codes "
                                                        "(comma-separated or the option repeated); default: "
                                                        "those of the source.")] = None,
        deadline: Annotated[str | None, typer.Option("--deadline", help="The follow-up's deadline (the closing "
                                                     "day moves with it).")] = None,
        planned: Annotated[str | None, typer.Option("--date", help="The planned issue date (default, when "
                                                    "--deadline is given: today).")] = None,
        roster: Annotated[Path | None, typer.Option("--roster", help="Your list of officials (.xlsx or .csv), "
                                                    "copied in instead of the empty form.")] = None) -> None:
    """Start a campaign of your own from an existing one: its YAML, its own copies of the templates it uses,
    its own roster workbook (header row and the units it addresses, to fill in Excel) and responses folder.
    Prints the next commands.

    Example: congvan new khao-sat-2024 --from par-index-2022 --units STNMT,EAHLEO,KPAC --deadline 15/12/2026
    """
    import datetime as dt

    from congvan.scaffold import Changes, new_campaign

    settings = settings_or_exit()
    codes = None if units is None else tuple(c.strip() for item in units for c in item.split(",") if c.strip())
    day = parse_date(planned, "--date") or (dt.date.today() if deadline is not None else None)
    changes = Changes(units=codes, deadline=parse_date(deadline, "--deadline"), roster=roster, today=day)
    with user_errors():
        made = new_campaign(settings.config_dir, settings.templates_dir, name, source, changes)
    typer.echo(_("Campaign {name}: {path}").format(name=name, path=made.campaign))
    for path in made.templates:
        typer.echo("  " + _("template: {path}").format(path=path))
    if made.roster is not None and made.roster_copied:
        typer.echo("  " + _("roster:   {path} (your list, copied in)").format(path=made.roster))
    elif made.roster is not None:
        typer.echo("  " + _("roster:   {path} (fill in one row per official; {count} units listed)").format(
            path=made.roster, count=made.units))
        typer.echo("  " + _("exports:  {path}/ (save the survey's exports here)").format(path=made.responses))
    typer.echo(_("Edit {file} (title, date, summary, body, deadline) and the templates, then:").format(
        file=made.campaign.name))
    for command in made.next_commands():
        typer.echo(f"  {command}")


@units_app.command("export")
def units_export(out: Annotated[Path | None, typer.Option("--out", help="The workbook to write (default: "
                                                          "$CONGVAN_OUTPUT_DIR/units.xlsx).")] = None) -> None:
    """Write units.yaml as an Excel workbook: sheet "Đơn vị" (code, name, group, mailbox, fallback mailbox,
    head's name, title and e-mail) and sheet "Nhóm" (groups). Prints the path.

    Example: congvan units export --out don-vi.xlsx
    """
    from congvan.units_excel import export_units

    settings = settings_or_exit()
    target = out or settings.output_dir / "units.xlsx"
    if target.suffix.lower() != ".xlsx":
        error(_("{target}: the workbook's name must end in .xlsx").format(target=target))
        raise typer.Exit(code=2)
    with user_errors():
        count = export_units(settings.config_dir, target)
    typer.echo(target)
    typer.echo(_("{count} units").format(count=count), err=True)


@units_app.command("import")
def units_import(file: Annotated[Path, typer.Argument(help="The workbook (.xlsx), as `congvan units export` "
                                                           "writes it.")]) -> None:
    """Replace units.yaml with the workbook's units and groups, checked as units.yaml is. Every problem is
    listed (sheet, row, column) and then nothing is written.

    Example: congvan units import don-vi.xlsx
    """
    from congvan.units_excel import import_units

    settings = settings_or_exit()
    with user_errors():
        try:
            done = import_units(settings.config_dir, file)
        except ConfigError as exc:
            for problem in exc.problems:
                error(str(problem))
            raise typer.Exit(code=2) from None
    typer.echo(done.summary())
