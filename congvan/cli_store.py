"""Commands for the state itself: ``congvan db …`` (migrations) and ``congvan register …`` (the book)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from congvan.cli_base import error, settings_or_exit, user_errors
from congvan.errors import CongVanError, RegisterError
from congvan.i18n import _

db_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                     help="The database's schema: upgrade it to this congvan, show its revision.")
register_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="The outgoing register (sổ văn bản đi): start a book at a number, print it.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database to this congvan's schema, in one transaction (a database made before
    migrations is recognised and adopted). Needed on PostgreSQL after installing a newer congvan; the
    embedded SQLite file upgrades itself on start.

    Example: congvan db upgrade
    """
    from congvan.store.db import make_engine, masked_url
    from congvan.store.schema import upgrade

    settings = settings_or_exit()
    with user_errors():
        engine = make_engine(settings.database_url)
        done = upgrade(engine)
    where = masked_url(engine.url)
    if done.changed:
        typer.echo(_("Upgraded {where}: {before} → revision {after}.").format(
            where=where, before=done.before.describe(), after=done.after))
    else:
        typer.echo(_("{where} is already at revision {after} (current); nothing to do.").format(
            where=where, after=done.after))


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision, and whether this congvan can use it as it is.

    Example: congvan db current
    """
    from congvan.store.db import make_engine, masked_url
    from congvan.store.schema import HEAD, current_state

    settings = settings_or_exit()
    with user_errors():
        engine = make_engine(settings.database_url)
        state = current_state(engine)
    typer.echo(f"{masked_url(engine.url)}: {state.describe()}")
    if state.newer:
        error(_("revision {revision} was made by a newer congvan (this one knows up to {head})").format(
            revision=state.revision, head=HEAD))
        raise typer.Exit(code=2)
    if not state.current and not state.empty:
        typer.echo(_("This congvan needs revision {head}: run `congvan db upgrade`.").format(head=HEAD))


@db_app.command("downgrade", hidden=True)
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Refused: the database holds the outgoing register.

    Example: congvan db downgrade
    """
    error(_("congvan never downgrades a database that holds the outgoing register; to go back, restore the backup "
            "taken before the upgrade (nothing was changed)"))
    raise typer.Exit(code=2)


@register_app.command("set-next")
def register_set_next(
    register: Annotated[str, typer.Argument(help="The register (sổ): an authority key from authorities.yaml, "
                                                 "or one of its books.")],
    year: Annotated[int, typer.Argument(help="The year of the numbers, e.g. 2024.")],
    number: Annotated[int, typer.Argument(help="The next number congvan should give, e.g. 215 when the office "
                                               "has issued 01–214 this year.")],
) -> None:
    """Start a register at the office's current number for a year. Refused at or below a number congvan
    has already issued there.

    Example: congvan register set-next ubnd-daklak 2024 215
    """
    from congvan.register import format_number
    from congvan.register_book import known_registers, set_next
    from congvan.store.db import init_db, make_engine

    settings = settings_or_exit()
    with user_errors():
        known = known_registers(settings.config_dir)
        if register not in known:
            raise RegisterError(_("no register {register!r} in {file} (known: {known}); nothing was changed").format(
                register=register, file=settings.config_dir / "authorities.yaml", known=", ".join(sorted(known))))
        engine = make_engine(settings.database_url)
        init_db(engine)
        done = set_next(engine, register, year, number)
    typer.echo(_("Register {register} ({name}), {year}: the next number is {next} (it was {previous}).").format(
        register=register, name=known[register], year=year, next=format_number(done.next_number),
        previous=format_number(done.previous_next)))


@register_app.command("export")
def register_export(
    year: Annotated[int | None, typer.Option("--year", help="Only this year (default: every year).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="The .xlsx to write (default: "
                                                           "OUTPUT_DIR/so-van-ban-di-YEAR.xlsx).")] = None,
) -> None:
    """Write the outgoing register as Decree 30's "sổ đăng ký văn bản đi": one row per issued document,
    in number order, one sheet per register and year, ready to print.

    Example: congvan register export --year 2023
    """
    from congvan.register_book import known_registers, register_rows
    from congvan.register_export import write_register
    from congvan.store.db import init_db, make_engine

    settings = settings_or_exit()
    with user_errors():
        if out is not None and out.suffix.lower() != ".xlsx":
            raise typer.BadParameter(_("{path} is not an .xlsx file").format(path=out), param_hint="'--out'")
        engine = make_engine(settings.database_url)
        init_db(engine)
        rows = register_rows(engine, config_dir=settings.config_dir, year=year)
        if not rows:
            years = sorted({r.ngay.year for r in register_rows(engine, config_dir=settings.config_dir)})
            if year is None:
                raise RegisterError(_("the register is empty: nothing has been issued yet; no file written"))
            held = _("it holds {years}").format(years=", ".join(map(str, years))) if years else _("it is empty")
            raise RegisterError(_("nothing was issued in {year} in the register ({held}); no file written").format(
                year=year, held=held))
        path = out or settings.output_dir / f"so-van-ban-di-{year if year is not None else 'tat-ca'}.xlsx"
        try:
            names = known_registers(settings.config_dir)
        except CongVanError:  # a broken authorities.yaml: the register prints with the book names
            names = {}
        write_register(rows, path, authority_names=names)
    typer.echo(_("{count} document(s) → {path}").format(count=len(rows), path=path))
