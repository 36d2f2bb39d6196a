"""Delivery truth before a day's letters (congvan.bounces): the reply mailbox read, a bounced dispatch sent again
to the unit's fallback, the coordinator told once. Tasks of the escalation flow."""

from __future__ import annotations

from prefect import get_run_logger

from congvan import bounces
from congvan import dispatch as dispatch_steps
from congvan.config import LoadedCampaign
from congvan.delivery import RetryPolicy, send_batch
from congvan.mail import SmtpConfig, SmtpFailure
from congvan.results import Fallback
from congvan.settings import Settings
from congvan.store.db import run_engine
from flows.steps import step


@step("read the reply mailbox", retries=2)
def read_mailbox(settings: Settings, lc: LoadedCampaign) -> list[str]:
    """Delivery reports and read receipts from the reply mailbox (CONGVAN_IMAP_*), applied to the ledger.
    A mailbox that cannot be read is a warning: today's letters still go, with what is known."""
    from congvan.errors import MailboxError
    from congvan.imap import ImapConfig

    if not settings.imap_host:
        return []
    engine = run_engine(settings.database_url)
    try:
        applied = bounces.sync_mailbox(engine, lc, ImapConfig.from_settings(settings),
                                       own_domain=dispatch_steps.message_id_domain(lc, settings))
    except MailboxError as exc:
        get_run_logger().warning("Bounces not read: %s", exc)
        return [f"bounces not read: {exc}"]
    for line in applied.skipped:
        get_run_logger().warning("Report skipped: %s", line)
    return applied.changed


@step("resend the dispatch to fallback addresses", retries=2)
def resend_fallbacks(settings: Settings, lc: LoadedCampaign) -> list[Fallback]:
    """A unit whose dispatch bounced gets the same document once at its fallback address."""
    engine = run_engine(settings.database_url)
    found = dispatch_steps.fallback_plan(engine, lc, settings)
    if found is None:
        return []
    allocation, files, todo = found
    from_ = dispatch_steps.sender(lc, settings)
    build = dispatch_steps.composer(lc, allocation, from_=from_,
                                    files=dispatch_steps.attachments(lc, allocation, files),
                                    templates_dir=settings.templates_dir)
    outcomes = send_batch(engine, SmtpConfig.from_settings(settings), from_.address, todo, build,
                          retry=RetryPolicy(settings.smtp_attempts, settings.smtp_backoff))
    return [Fallback(unit=o.row.unit, address=o.row.address, status=o.status.value, error=o.error) for o in outcomes]


@step("alert the coordinator", retries=2)
def alert_bounces(settings: Settings, lc: LoadedCampaign) -> int:
    """One mail per run to the authority's mailbox listing the bounces not told yet."""
    engine = run_engine(settings.database_url)
    fallbacks, held = bounces.alert_context(engine, lc)
    try:
        return bounces.alert(engine, lc, SmtpConfig.from_settings(settings), dispatch_steps.sender(lc, settings),
                             fallbacks=fallbacks, held=held,
                             message_id_domain=dispatch_steps.message_id_domain(lc, settings))
    except SmtpFailure as exc:
        get_run_logger().warning("The bounce alert was not sent (the next run tries again): %s", exc.reason)
        return 0
