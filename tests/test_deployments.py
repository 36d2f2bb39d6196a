"""The deployments: what `congvan serve` serves and what prefect.yaml declares agree, and the
escalation is scheduled at 08:00 on weekdays in Vietnam's timezone, one run at a time per campaign."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from prefect import Flow, flow

from congvan.config import list_campaigns, load_campaign
from congvan.settings import Settings
from flows.serve import ESCALATION_CRON, TIMEZONE, deployments, prefect_yaml, specs
from flows.steps import watched_here

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    return Settings(config_dir=ROOT / "config", templates_dir=ROOT / "templates")


def test_serve_schedules_each_open_campaign_in_vietnam_time() -> None:
    found = {d.name: d for d in deployments(_settings(), dt.date(2023, 3, 1))}
    assert set(found) == {"dispatch", "approve", "report", "escalate-par-index-2022"}
    escalate = found["escalate-par-index-2022"]
    (schedule,) = escalate.schedules
    assert schedule.schedule.cron == "0 8 * * 1-5"
    assert schedule.schedule.timezone == "Asia/Ho_Chi_Minh"
    assert schedule.parameters == {"campaign": "par-index-2022"}
    assert escalate.parameters == {"campaign": "par-index-2022"}
    assert escalate.concurrency_limit == 1
    assert found["dispatch"].schedules == [] and found["approve"].schedules == [] and found["report"].schedules == []


def test_a_closed_campaign_is_not_served() -> None:
    closes = load_campaign(ROOT / "config", "par-index-2022").campaign.follow_up.closes  # type: ignore[union-attr]
    assert closes is not None
    names = [d.name for d in deployments(_settings(), closes + dt.timedelta(days=1))]
    assert names == ["dispatch", "approve", "report"]


def test_prefect_yaml_is_written_from_the_same_table_as_serve() -> None:
    """Declared once: prefect.yaml is what flows/serve.py writes (regenerate: python -m flows.serve > prefect.yaml),
    and the table lists the same deployments as `congvan serve` serves on a day the sample is open."""
    written = prefect_yaml(specs(_settings(), None))
    assert (ROOT / "prefect.yaml").read_text(encoding="utf-8") == written, \
        "prefect.yaml is out of date: python -m flows.serve > prefect.yaml"
    served = [d.name for d in deployments(_settings(), dt.date(2023, 3, 1))]
    assert [d["name"] for d in yaml.safe_load(written)["deployments"]] == served


def test_prefect_yaml_declares_the_same_flows_and_schedules() -> None:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    declared = {d["name"]: d for d in spec["deployments"]}
    for deployment in declared.values():
        path, _, name = deployment["entrypoint"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert isinstance(getattr(module, name), Flow), deployment["entrypoint"]
        assert deployment["work_pool"]["name"] == "congvan"
    # The signer's form in the Prefect UI: the approve deployment, on demand like the dispatch.
    assert declared["approve"]["entrypoint"] == "flows/approve.py:approve" and "schedules" not in declared["approve"]
    followed = [n for n in list_campaigns(ROOT / "config")
                if load_campaign(ROOT / "config", n).campaign.follow_up is not None]
    assert followed
    for campaign in followed:
        escalate = declared[f"escalate-{campaign}"]
        assert escalate["entrypoint"] == "flows/escalate.py:escalate"
        assert escalate["concurrency_limit"] == 1
        (schedule,) = escalate["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (ESCALATION_CRON, TIMEZONE)
        assert schedule["parameters"] == {"campaign": campaign}


@pytest.mark.parametrize("flow_name", ["dispatch", "escalate", "report", "approve"])
def test_a_bad_setting_on_the_worker_ends_the_run_failed_with_one_line(flow_name: str, prefect_api: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's environment is not the coordinator's: a bad CONGVAN_* there is the run's one-line failure."""
    monkeypatch.setenv("CONGVAN_SMTP_PORT", "hai mươi lăm")
    module = importlib.import_module(f"flows.{flow_name}")
    state = getattr(module, flow_name)(campaign="par-index-2022", return_state=True)
    assert state.is_failed()
    assert state.message.startswith("CONGVAN_SMTP_PORT: ") and "\n" not in state.message, state.message


def _heartbeat_threads() -> int:
    """Threads running Prefect's flow-run heartbeat loop in this process (the loop is the function the thread runs
    in a copy of the caller's context: ``Context.run(heartbeat_loop)``)."""
    return sum(1 for t in threading.enumerate()
               if any(getattr(a, "__name__", "") == "heartbeat_loop" for a in getattr(t, "_args", ())))


@flow(name="heartbeat-probe")
def _probe() -> int:
    return _heartbeat_threads()


def test_a_run_watched_here_sends_no_heartbeat_a_workers_run_does(prefect_api: str) -> None:
    """Runs the CLI and the demo start (``watched_here``) skip the heartbeat and the wait for its thread at their
    end; a run started otherwise, as a worker starts a deployment's, keeps it (the server's sign of life)."""
    assert _probe() == 1
    with watched_here():
        assert _probe() == 0
    assert _probe() == 1


@flow(name="event-probe")
def _emits(count: int) -> int:
    from prefect.events import emit_event

    for i in range(count):
        emit_event(event="congvan.test.probe", resource={"prefect.resource.id": f"congvan.test.{i}"})
    return count


_EMITTING_COMMAND = """
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.events import emit_event
from prefect.events.worker import EventsWorker
from flows.steps import sent_before_exit, watched_here

@flow(name="event-probe")
def emits(count: int) -> int:
    for i in range(count):
        emit_event(event="congvan.test.probe", resource={"prefect.resource.id": f"congvan.test.{i}"})
    return count

with watched_here():
    state = emits(300, return_state=True)
assert state.result() == 300
# the test's own timeout comes first: a wait that never ends fails it
print("sent:", sent_before_exit(timeout=900), "services left:", len(EventsWorker._instances))
with get_client(sync_client=True) as client:
    run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
    print(any("Finished in state Completed" in log.message for log in client.read_logs(log_filter=run)))
"""


def test_what_a_watched_run_queued_for_the_api_is_sent_before_the_command_ends(prefect_api: str,
                                                                               tmp_path: Path) -> None:
    """Without the heartbeat's wait at the end of each run, a command could reach its exit with events still queued,
    and Prefect's exit drain printed a warning after the command's last line: the CLI and the demo send them first
    (``sent_before_exit``), events and log lines, and do not wait on the log worker, which never reports its items
    done (waiting for it took the CLI's whole 10 s after any run that logged to the API). In a process of its own,
    as a command is."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_LOGGING_LEVEL": "INFO"}
    result = subprocess.run([sys.executable, "-c", _EMITTING_COMMAND], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-2:] == ["sent: True services left: 0", "True"]
    assert "Still processing items" not in result.stderr
