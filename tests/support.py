"""Helpers shared by the tests: a private copy of the sample project, YAML edits, and reading a
rendered .docx back (text blocks and effective formatting resolved through styles)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import yaml
from docx.document import Document
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from forkserver import cli_command  # tests/forkserver.py
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(__file__).with_name("data") / "cong-van-dieu-tra-xa-hoi-hoc-par-index-2022.txt"


def project_copy(tmp_path: Path, *, approval: bool = False) -> Path:
    """config/ and templates/ copied under tmp_path, so a test may break them freely. Without ``approval``
    the sample campaign issues without its signer's approval (``approval: none`` on the dispatch and every
    step), as the tests of what follows issuing need; the approval tests keep the sample as it is."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "config", root / "config")
    shutil.copytree(ROOT / "templates", root / "templates")
    if not approval:
        path = root / "config" / "campaigns" / "par-index-2022.yaml"
        text = path.read_text(encoding="utf-8")
        assert "\napproval: signer\n" in text, "the sample campaign's approval line moved"
        text = text.replace("\napproval: signer\n", "\napproval: none\n")
        text = text.replace("\n      kind: letter\n", "\n      kind: letter\n      approval: none\n")
        text = text.replace("\n      kind: report\n", "\n      kind: report\n      approval: none\n")
        path.write_text(text, encoding="utf-8")
    return root



def fresh_python(code: str, **options: Any) -> list[str]:
    """The lines ``code`` prints in a fresh interpreter (here, or where ``options`` say), which must end well."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8",
                            check=False, timeout=120, **options)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any] | None = None, *, seconds: float = 30) -> None:
    """Until something listens on ``port`` (a server started in the background); fails if ``process`` ends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the background command ended with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")

def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def spring_2024_campaign(data: dict[str, Any]) -> None:
    """The sample campaign moved to spring 2024 (dispatch 10/04, deadline 24/04, closes 31/05) with a test
    roster (rosters/test.csv), no PDF and no responses folder: the follow-up tests' campaign."""
    data["date"] = dt.date(2024, 4, 10)
    data["pdf"] = False
    data["attach"] = ["docx"]
    follow_up = data["follow_up"]
    follow_up["deadline"] = dt.date(2024, 4, 24)
    follow_up["closes"] = dt.date(2024, 5, 31)
    follow_up["roster"] = "rosters/test.csv"
    follow_up.pop("responses", None)


def spring_world(tmp_path: Path, prefect_api: str, db_url: str, monkeypatch: Any, *, roster: str,
                 approval: bool = False) -> Iterator[dict[str, Any]]:
    """The spring-2024 campaign with ``roster`` as its roster, on ``db_url``, its settings in os.environ (for
    in-process flows) and in the project's env (for CLI runs), and a mail catcher: what the follow-up tests share."""
    from congvan.mailcatcher import MailCatcher

    project = Project(tmp_path, approval=approval)
    (project.config / "rosters" / "test.csv").write_text(roster, encoding="utf-8")
    project.edit("campaigns/par-index-2022.yaml", spring_2024_campaign)
    env = {"CONGVAN_CONFIG_DIR": str(project.config), "CONGVAN_TEMPLATES_DIR": str(project.root / "templates"),
           "CONGVAN_OUTPUT_DIR": str(project.out), "CONGVAN_DATABASE_URL": db_url,
           "CONGVAN_SMTP_BACKOFF": "0", "CONGVAN_SMTP_ATTEMPTS": "2"}
    with MailCatcher(tmp_path / "mailbox") as catcher:
        env["CONGVAN_SMTP_PORT"] = str(catcher.port)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        project.env.update(env, PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
        yield {"project": project, "catcher": catcher, "db_url": db_url, "tmp": tmp_path}


def run_flow(flow: Any, **parameters: Any) -> Any:
    """Run a Prefect flow in-process as the CLI does; it must end Completed, with its typed result
    (congvan.results)."""
    from congvan import results
    from flows.steps import watched_here

    with watched_here():
        state = flow(return_state=True, **parameters)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, (results.DispatchResult, results.EscalationResult, results.ApprovalResult,
                               results.ReportResult)), result
    return result


class Project:
    """A copy of config/ and templates/ with its own output folder, and a way to run congvan in it."""

    def __init__(self, tmp_path: Path, *, approval: bool = False) -> None:
        self.root = project_copy(tmp_path, approval=approval)
        self.out = tmp_path / "outputs"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONGVAN_")}
        self.env["CONGVAN_OUTPUT_DIR"] = str(self.out)
        self.env["PYTHONIOENCODING"] = "utf-8"
        self.env["CONGVAN_LANG"] = "en"  # the suite reads English; tests/test_i18n.py asks for Vietnamese

    @property
    def config(self) -> Path:
        return self.root / "config"

    def edit(self, file: str, change: Callable[[Any], None]) -> None:
        edit_yaml(self.config / file, change)

    def command(self, *args: str, fresh: bool = False) -> list[str]:
        """``python -m congvan ARGS``: forked from the tests' fork server (tests/forkserver.py), or with ``fresh``
        a new interpreter (for what the fork would hide: imports, start-up, a killed process group)."""
        return [sys.executable, "-m", "congvan", *args] if fresh else cli_command(*args)

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), cwd=self.root, env={**self.env, **env}, capture_output=True,
                              text=True, encoding="utf-8", timeout=timeout, check=False)


@dataclass(frozen=True)
class TerminalRun:
    """A command run with stderr on a terminal (a pty), stdout on a pipe: what arrived on each, and when."""

    returncode: int
    chunks: list[tuple[float, str, str]]  # (seconds since the start, "out" or "err", text)

    def text(self, stream: str) -> str:
        return "".join(t for _, s, t in self.chunks if s == stream)

    def first(self, stream: str) -> tuple[float, str]:
        return next((at, t) for at, s, t in self.chunks if s == stream)


def on_terminal(project: Project, *args: str, timeout: float = 180, **env: str) -> TerminalRun:
    """Run ``congvan ARGS`` as a person at a terminal sees its stderr (progress, notices), stdout piped."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen(project.command(*args), cwd=project.root, env={**project.env, **env},
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    assert proc.stdout is not None
    streams = {proc.stdout.fileno(): "out", master: "err"}
    chunks: list[tuple[float, str, str]] = []
    try:
        while streams and time.monotonic() - started < timeout:
            ready, _, _ = select.select(list(streams), [], [], 1.0)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # the pty's other end closed: the process has exited
                    data = b""
                if not data:
                    del streams[fd]
                    continue
                chunks.append((time.monotonic() - started, streams[fd], data.decode("utf-8", errors="replace")))
        returncode = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return TerminalRun(returncode, chunks)


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr as lines, checking that it holds nothing but "Error: " lines and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines, "expected an error on stderr"
    assert all(line.startswith("Error: ") for line in lines), result.stderr
    return lines


# --- reading a .docx back --------------------------------------------------------------------------


def iter_blocks(document: Document) -> Iterator[Paragraph | Table]:
    body = document.element.body
    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            yield Paragraph(child, document)
        elif child.tag == qn("w:tbl"):
            yield Table(child, document)


def all_paragraphs(document: Document) -> list[Paragraph]:
    """Every paragraph in reading order, table cells left to right, row by row."""
    out: list[Paragraph] = []
    for block in iter_blocks(document):
        if isinstance(block, Paragraph):
            out.append(block)
        else:
            for row in block.rows:
                for cell in row.cells:
                    out.extend(cell.paragraphs)
    return out


def open_docx(path: Path) -> Document:
    return docx.Document(str(path))


@dataclass(frozen=True)
class Fmt:
    """Effective formatting of a paragraph's text (runs → paragraph style chain → docDefaults)."""

    size: float | None
    bold: bool
    italic: bool
    caps: bool
    fonts: dict[str, str]
    align: str | None
    first_line: int | None
    left: int | None
    before: int
    after: int
    line: int | None
    line_rule: str | None


def _style_chain(document: Document, style_id: str | None) -> list[Any]:
    chain = []
    styles = document.styles.element
    while style_id:
        st = styles.find(f"{qn('w:style')}[@{qn('w:styleId')}='{style_id}']")
        if st is None:
            break
        chain.append(st)
        based = st.find(qn("w:basedOn"))
        style_id = based.get(qn("w:val")) if based is not None else None
    return chain


def _default_style_id(document: Document) -> str | None:
    for st in document.styles.element.findall(qn("w:style")):
        if st.get(qn("w:type")) == "paragraph" and st.get(qn("w:default")) in ("1", "true"):
            return str(st.get(qn("w:styleId")))
    return None


def _toggle(el: Any) -> bool | None:
    if el is None:
        return None
    val = el.get(qn("w:val"))
    return val not in ("0", "false", "off")


def effective(paragraph: Paragraph, run_index: int = 0, document: Document | None = None) -> Fmt:
    document = document or paragraph.part.document
    ppr = paragraph._p.pPr
    style_id = None
    if ppr is not None and ppr.find(qn("w:pStyle")) is not None:
        style_id = ppr.find(qn("w:pStyle")).get(qn("w:val"))
    chain = _style_chain(document, style_id or _default_style_id(document))
    runs = paragraph._p.findall(f".//{qn('w:r')}")
    run = runs[run_index] if runs else None
    defaults = document.styles.element.find(qn("w:docDefaults"))
    rpr_sources = ([run.find(qn("w:rPr"))] if run is not None else []) + \
        [s.find(qn("w:rPr")) for s in chain] + \
        [defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}") if defaults is not None else None]
    ppr_sources = [ppr] + [s.find(qn("w:pPr")) for s in chain] + \
        [defaults.find(f"{qn('w:pPrDefault')}/{qn('w:pPr')}") if defaults is not None else None]

    def rfirst(tag: str) -> Any:
        for src in rpr_sources:
            if src is not None and src.find(qn(tag)) is not None:
                return src.find(qn(tag))
        return None

    def pattr(tag: str, attr: str) -> str | None:
        for src in ppr_sources:
            if src is not None:
                el = src.find(qn(tag))
                if el is not None and el.get(qn(attr)) is not None:
                    return str(el.get(qn(attr)))
        return None

    fonts: dict[str, str] = {}
    for slot in ("ascii", "hAnsi", "eastAsia", "cs"):
        for src in rpr_sources:
            rf = src.find(qn("w:rFonts")) if src is not None else None
            if rf is not None and (rf.get(qn(f"w:{slot}")) or rf.get(qn(f"w:{slot}Theme"))):
                fonts[slot] = rf.get(qn(f"w:{slot}")) or f"theme:{rf.get(qn(f'w:{slot}Theme'))}"
                break
    sz = rfirst("w:sz")

    def as_int(v: str | None) -> int | None:
        return int(v) if v is not None else None

    return Fmt(
        size=int(sz.get(qn("w:val"))) / 2 if sz is not None else None,
        bold=bool(_toggle(rfirst("w:b"))),
        italic=bool(_toggle(rfirst("w:i"))),
        caps=bool(_toggle(rfirst("w:caps"))),
        fonts=fonts,
        align=pattr("w:jc", "w:val"),
        first_line=as_int(pattr("w:ind", "w:firstLine")),
        left=as_int(pattr("w:ind", "w:left")),
        before=as_int(pattr("w:spacing", "w:before")) or 0,
        after=as_int(pattr("w:spacing", "w:after")) or 0,
        line=as_int(pattr("w:spacing", "w:line")),
        line_rule=pattr("w:spacing", "w:lineRule"),
    )


def xml_of(path: Path, part: str) -> Any:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return etree.fromstring(z.read(part))


# --- TLS for the test mail servers -----------------------------------------------------------------


def self_signed_tls(tmp_path: Path) -> tuple[Any, Path]:
    """A server SSLContext with a fresh self-signed certificate for 127.0.0.1/localhost, and the
    certificate's PEM file, which a client can trust as its CA (``CONGVAN_SMTP_CA_FILE``)."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
