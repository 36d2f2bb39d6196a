"""The deployments ``congvan serve`` serves, one process on one machine (``prefect.yaml`` declares the same
deployments for a work pool and workers on several machines).

The escalation of each open campaign runs at 08:00 on weekdays, Vietnam time, set explicitly: a cron
without a timezone is UTC on the server. One run at a time per campaign (a scheduled and a manual run
cannot overlap), and schedules stay active when the process restarts. The flow itself skips Vietnam's
days off (Tết, 30/4 …), which cron cannot know.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import serve
from prefect.schedules import Cron

from congvan.config import list_campaigns, load_campaign
from congvan.settings import Settings
from flows.approve import approve
from flows.dispatch import dispatch
from flows.escalate import escalate

ESCALATION_CRON = "0 8 * * 1-5"
TIMEZONE = "Asia/Ho_Chi_Minh"


def open_campaigns(settings: Settings, today: dt.date) -> list[str]:
    """Campaigns with a follow-up that has not closed yet."""
    names = []
    for name in list_campaigns(settings.config_dir):
        follow_up = load_campaign(settings.config_dir, name).campaign.follow_up
        if follow_up is not None and (follow_up.closes is None or follow_up.closes >= today):
            names.append(name)
    return names


def deployments(settings: Settings, today: dt.date) -> list[Any]:
    found = [dispatch.to_deployment(name="dispatch", description="Issue and mail a campaign's dispatch."),
             approve.to_deployment(name="approve", description=(
                 "The signer's decision (trình ký): approve (and issue at once) or reject what a campaign has "
                 "waiting; the pending-CAMPAIGN artifact lists it."))]
    for name in open_campaigns(settings, today):
        found.append(escalate.to_deployment(
            name=f"escalate-{name}",
            schedule=Cron(ESCALATION_CRON, timezone=TIMEZONE, parameters={"campaign": name}),
            parameters={"campaign": name},
            concurrency_limit=1,
            description=f"The daily escalation of {name}: working days at 08:00, Vietnam time."))
    return found


def serve_all(found: list[Any]) -> None:
    # pause_on_shutdown=False: a restart (systemd, docker) must not leave the schedules paused.
    serve(*found, pause_on_shutdown=False, print_starting_message=False)
