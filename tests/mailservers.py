"""A real Postfix and a real Dovecot on loopback, for the delivery-truth tests, started without systemd.

Postfix is the relay congvan submits to: it delivers the addresses it knows to Maildir and accepts
the others, then bounces them with an RFC 3464 report to the sender, as a real relay does
(``smtpd_reject_unlisted_recipient = no``, empty ``local_recipient_maps``; the virtual delivery agent
returns "unknown user"). Dovecot serves the Maildirs over IMAP, so the authority's reply mailbox is
read as in production. Everything (configuration, queue, mail, logs) lives in one temporary folder;
both listen on free loopback ports. Both daemons need root (as in CI); without root, or without the
Debian packages (``postfix``, ``dovecot-imapd``: scripts/system-deps.sh test), the tests are skipped,
and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DOMAIN = "daklak.example"
VMAIL_UID = 65534  # nobody: owns the Maildirs; Postfix's virtual agent and Dovecot act as it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "Postfix and Dovecot need root to start"
    for tool in ("postfix", "postconf", "dovecot", "doveadm"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (scripts/system-deps.sh test installs postfix and dovecot-imapd)"
    return None


def require_servers() -> None:
    reason = _unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires them", pytrace=False)
    pytest.skip(reason)


@dataclass
class MailServers:
    root: Path
    smtp_port: int
    imap_port: int
    users: dict[str, str]  # IMAP user (address) -> password

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    def maildir(self, address: str) -> Path:
        local, _, domain = address.lower().partition("@")
        return self.mail / domain / local

    def messages(self, address: str) -> list[bytes]:
        """Every message delivered to ``address`` (new and cur), oldest first."""
        box = self.maildir(address)
        files = [p for sub in ("new", "cur") if (box / sub).is_dir() for p in (box / sub).iterdir()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: p.name)]

    def log(self) -> str:
        parts = []
        for name in ("maillog", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def wait_queue_empty(self, timeout: float = 60) -> None:
        """Until Postfix has delivered or bounced everything it accepted (and sent the bounces)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["postqueue", "-c", str(self.root / "postfix"), "-j"], capture_output=True,
                                 text=True, check=False)
            if out.returncode == 0 and not out.stdout.strip():
                return
            time.sleep(0.3)
        raise AssertionError(f"Postfix still has mail queued after {timeout} s:\n{self.log()[-3000:]}")


def _postfix_config(root: Path, port: int, known: Iterable[str]) -> Path:
    conf = root / "postfix"
    conf.mkdir()
    (root / "queue").mkdir()
    (root / "data").mkdir()
    shutil.chown(root / "data", "postfix")
    main = f"""
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{conf}/vmailbox
virtual_mailbox_base = {root}/mail
virtual_uid_maps = static:{VMAIL_UID}
virtual_gid_maps = static:{VMAIL_UID}
smtpd_reject_unlisted_recipient = no
default_transport = error:mail outside {DOMAIN} is not delivered in tests
alias_maps =
alias_database =
biff = no
delay_warning_time = 0
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
"""
    (conf / "main.cf").write_text(main, encoding="ascii")
    services = [
        f"127.0.0.1:{port} inet n - n - - smtpd",
        "pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr",
        "rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp", "showq unix n - n - - showq",
        "error unix - - n - - error", "retry unix - - n - - error", "discard unix - - n - - discard",
        "local unix - n n - - local", "virtual unix - n n - - virtual", "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache", "postlog unix-dgram n - n - 1 postlogd",
    ]
    (conf / "master.cf").write_text("\n".join(services) + "\n", encoding="ascii")
    (conf / "vmailbox").write_text("".join(f"{a.lower()} {DOMAIN}/{a.lower().partition('@')[0]}/\n"
                                           for a in sorted(set(known))), encoding="ascii")
    return conf


def _dovecot_config(root: Path, port: int, users: dict[str, str]) -> Path:
    conf = root / "dovecot"
    for sub in ("base", "state"):
        (conf / sub).mkdir(parents=True)
    (conf / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()), encoding="ascii")
    text = f"""
base_dir = {conf}/base
state_dir = {conf}/state
instance_name = congvan-test-{port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%d/%n
first_valid_uid = {VMAIL_UID}
last_valid_uid = {VMAIL_UID}
mail_uid = {VMAIL_UID}
mail_gid = {VMAIL_UID}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {conf}/passwd
}}
userdb {{
  driver = static
  args = uid={VMAIL_UID} gid={VMAIL_UID}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
    (conf / "dovecot.conf").write_text(text, encoding="ascii")
    return conf / "dovecot.conf"


def _wait_port(port: int, what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    shown = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise AssertionError(f"{what} did not listen on {port}: {shown}")


@pytest.fixture
def mail_servers(request: pytest.FixtureRequest) -> Iterator[MailServers]:
    """Postfix and Dovecot in a fresh temporary folder. The test module sets ``KNOWN`` (addresses with a
    mailbox) and ``IMAP_USERS`` ({address: password}) as module attributes."""
    require_servers()
    known: list[str] = list(request.module.KNOWN)
    users: dict[str, str] = dict(request.module.IMAP_USERS)
    # Not pytest's tmp_path: its parents are private to root, and the Maildirs belong to nobody.
    root = Path(tempfile.mkdtemp(prefix="congvan-mail-"))
    root.chmod(0o755)
    (root / "mail").mkdir()
    os.chown(root / "mail", VMAIL_UID, VMAIL_UID)
    smtp_port, imap_port = free_port(), free_port()
    conf = _postfix_config(root, smtp_port, [*known, *users])
    dovecot_conf = _dovecot_config(root, imap_port, users)
    started: list[str] = []
    try:
        # The daemons keep no pipe of ours open: their output goes to the logs above.
        started.append("postfix")
        subprocess.run(["postfix", "-c", str(conf), "start"], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(smtp_port, "Postfix", root / "maillog")
        started.append("dovecot")
        subprocess.run(["dovecot", "-c", str(dovecot_conf)], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(imap_port, "Dovecot", root / "dovecot.log")
        yield MailServers(root, smtp_port, imap_port, users)
    finally:
        if "dovecot" in started:
            subprocess.run(["doveadm", "-c", str(dovecot_conf), "stop"], capture_output=True, timeout=60,
                           check=False)
        if "postfix" in started:
            subprocess.run(["postfix", "-c", str(conf), "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)
