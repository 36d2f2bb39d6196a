"""The report flow: compliance as of a day → the báo cáo (.docx with chart) and its .xlsx, as a draft for
the coordinator (the ladder's report step issues a numbered one), with a Prefect table artifact."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Failed

from congvan import compliance, register
from congvan.config import LoadedCampaign
from congvan.documents import dispatch_key
from congvan.results import ReportResult, ReportRow
from congvan.settings import Settings
from congvan.store.db import engine_scope, init_db, run_engine
from flows.escalate import validate
from flows.steps import StepFailed, artifact_key, flow_settings, run, step


@step("write report", retries=2)
def write(settings: Settings, lc: LoadedCampaign, as_of: dt.date) -> ReportResult:
    from congvan.report import write_report

    engine = run_engine(settings.database_url)
    init_db(engine)
    state = compliance.compute(engine, lc, as_of)
    files = write_report(lc, state, templates_dir=settings.templates_dir, out_dir=settings.output_dir / "reports",
                         dispatch=register.lookup(engine, dispatch_key(lc.name)), planned=as_of)
    rows = tuple(ReportRow(unit=u.code, name=u.name, required=u.required, responded=u.responded, rate=f"{u.rate:.0%}",
                           compliant="yes" if u.compliant else "no") for u in state.units)
    return ReportResult(docx=files.docx, xlsx=files.xlsx, rows=rows, responded=state.responded,
                        required=state.required)


@flow(name="report", log_prints=False)
def report(campaign: str, as_of: dt.date | None = None) -> ReportResult | State[Any]:
    """Write campaign CAMPAIGN's compliance report as of ``as_of`` (default today)."""
    with engine_scope():  # the run's engines, one per database, disposed when it ends (congvan.store.db)
        return _report(campaign, as_of)


def _report(campaign: str, as_of: dt.date | None) -> ReportResult | State[Any]:
    today = as_of or dt.date.today()
    try:
        settings: Settings = flow_settings()  # a bad CONGVAN_* on this machine: one line
        lc = run(validate, settings, campaign)
        result: ReportResult = run(write, settings, lc, today)
    except StepFailed as exc:
        return Failed(message=str(exc))
    create_table_artifact(table=result.to_json()["rows"], key=artifact_key("report", lc.name),
                          description=f"{today.isoformat()}: {result.responded}/{result.required} answered; "
                                      f"{result.docx}")
    return result
