"""The deployments, declared once: ``congvan serve`` serves them from one process on one machine, and
``prefect.yaml`` (written from the same table: ``python -m flows.serve > prefect.yaml``; a test keeps it
current) declares them for a work pool and workers on several machines.

The escalation of each open campaign runs at 08:00 on weekdays, Vietnam time, set explicitly: a cron
without a timezone is UTC on the server. One run at a time per campaign (a scheduled and a manual run
cannot overlap), and schedules stay active when the process restarts. The flow itself skips Vietnam's
days off (Tết, 30/4 …), which cron cannot know.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, field
from typing import Any

from congvan.config import list_campaigns, load_campaign
from congvan.settings import Settings

ESCALATION_CRON = "0 8 * * 1-5"
TIMEZONE = "Asia/Ho_Chi_Minh"
WORK_POOL = "congvan"


@dataclass(frozen=True)
class Spec:
    """One deployment, as both ways of running congvan on Prefect need it."""

    name: str
    entrypoint: str  # "flows/dispatch.py:dispatch"
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    scheduled: bool = False  # at ESCALATION_CRON in TIMEZONE, with ``parameters``; one run at a time

    def flow(self) -> Any:
        path, _, name = self.entrypoint.partition(":")
        return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def open_campaigns(settings: Settings, today: dt.date | None) -> list[str]:
    """Campaigns with a follow-up that has not closed by ``today`` (None: every campaign with a follow-up, as a
    file declared once for all days lists them; the run of a closed campaign sends nothing)."""
    names = []
    for name in list_campaigns(settings.config_dir):
        follow_up = load_campaign(settings.config_dir, name).campaign.follow_up
        if follow_up is not None and (today is None or follow_up.closes is None or follow_up.closes >= today):
            names.append(name)
    return names


def specs(settings: Settings, today: dt.date | None) -> list[Spec]:
    """Every deployment: the on-demand ones, then the daily escalation of each open campaign."""
    found = [
        Spec("dispatch", "flows/dispatch.py:dispatch",
             "Issue a campaign's dispatch and mail it to every unit exactly once."),
        Spec("approve", "flows/approve.py:approve",
             "The signer's decision (trình ký): approve and issue at once, or reject, what a campaign has waiting "
             "(see the pending-CAMPAIGN artifact)."),
        Spec("report", "flows/report.py:report", "Write a campaign's compliance report (draft) as of a day."),
    ]
    for name in open_campaigns(settings, today):
        found.append(Spec(f"escalate-{name}", "flows/escalate.py:escalate",
                          f"The daily escalation of {name}: working days at 08:00, Vietnam time.",
                          parameters={"campaign": name}, scheduled=True))
    return found


def deployments(settings: Settings, today: dt.date) -> list[Any]:
    """The specs as Prefect deployments, for ``serve``."""
    from prefect.schedules import Cron

    found = []
    for spec in specs(settings, today):
        extra: dict[str, Any] = {}
        if spec.scheduled:
            extra = {"schedule": Cron(ESCALATION_CRON, timezone=TIMEZONE, parameters=spec.parameters),
                     "concurrency_limit": 1}
        found.append(spec.flow().to_deployment(name=spec.name, description=spec.description,
                                               parameters=spec.parameters, **extra))
    return found


def serve_all(found: list[Any]) -> None:
    from prefect import serve

    # pause_on_shutdown=False: a restart (systemd, docker) must not leave the schedules paused.
    serve(*found, pause_on_shutdown=False, print_starting_message=False)


PREFECT_YAML_HEADER = """\
# Deployments of congvan's flows for a Prefect server and workers (docs/design.md §8.4).
# Written by `python -m flows.serve > prefect.yaml` from flows/serve.py (what `congvan serve` serves too):
# edit that table, not this file; tests/test_deployments.py fails while this file is out of date.
#
#   prefect work-pool create congvan --type process
#   prefect --no-prompt deploy --all                 # from this folder, with PREFECT_API_URL set
#   prefect worker start --pool congvan --limit 2    # on each machine that has this folder and .venv
#
# Every worker needs the same code and settings: CONGVAN_DATABASE_URL pointing at the shared
# PostgreSQL, CONGVAN_SMTP_*, and CONGVAN_CONFIG_DIR / CONGVAN_OUTPUT_DIR on storage they share.
# The escalation runs at 08:00 on weekdays, Vietnam time (the timezone is explicit: a cron without
# one is UTC); the run itself skips Vietnam's days off. One run at a time per campaign.
"""


def prefect_yaml(found: list[Spec]) -> str:
    """prefect.yaml for ``found``, as ``prefect deploy --all`` reads it."""
    import json

    def value(text: str) -> str:  # JSON strings are YAML strings: quotes and non-ASCII stay safe
        return json.dumps(text, ensure_ascii=False)

    def mapping(data: dict[str, Any]) -> str:
        return "{" + ", ".join(f"{k}: {value(str(v))}" for k, v in data.items()) + "}"

    lines = [PREFECT_YAML_HEADER.rstrip("\n"), "name: congvan", "prefect-version: 3.4.0", "", "pull:",
             "  - prefect.deployments.steps.set_working_directory:",
             '      directory: "{{ $CONGVAN_HOME }}"', "", "deployments:"]
    for spec in found:
        params = mapping(spec.parameters)
        lines += [f"  - name: {spec.name}", f"    entrypoint: {spec.entrypoint}",
                  f"    description: {value(spec.description)}", f"    work_pool: {{name: {WORK_POOL}}}",
                  f"    parameters: {params}"]
        if spec.scheduled:
            lines += ["    concurrency_limit: 1", "    schedules:", f'      - cron: "{ESCALATION_CRON}"',
                      f'        timezone: "{TIMEZONE}"', "        slug: weekdays-8am-ict", "        active: true",
                      f"        parameters: {params}"]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(prefect_yaml(specs(Settings(), None)), end="")
