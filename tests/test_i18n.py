"""Vietnamese by default, English when asked: real commands in a private copy of the project, with no
language set, with LANG=vi_VN.UTF-8, with LANG=en_US.UTF-8 and with CONGVAN_LANG; and a catalogue in which
every msgid the code uses has its Vietnamese, so a new string cannot ship untranslated."""

from __future__ import annotations

import os
import string
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from support import Project

from congvan import i18n

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = "par-index-2022"
LANGUAGE_VARS = ("CONGVAN_LANG", "LANG", "LC_ALL", "LANGUAGE")
sys.path.insert(0, str(ROOT / "scripts"))


class Speaker:
    """A project whose commands run with only the language variables given."""

    def __init__(self, tmp_path: Path, **language: str) -> None:
        self.project = Project(tmp_path)
        for name in LANGUAGE_VARS:
            self.project.env.pop(name, None)
        self.project.env.update(language)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.project.run(*args, **env)


VIETNAMESE = [{}, {"LANG": "vi_VN.UTF-8"}, {"CONGVAN_LANG": "vi", "LANG": "en_US.UTF-8"}]
VIETNAMESE_IDS = ["nothing-set", "LANG=vi", "CONGVAN_LANG=vi"]
ENGLISH = [{"LANG": "en_US.UTF-8"}, {"LC_ALL": "en_GB.UTF-8"}, {"CONGVAN_LANG": "en", "LANG": "vi_VN"}]
ENGLISH_IDS = ["LANG=en", "LC_ALL=en", "CONGVAN_LANG=en"]


def _speaker(tmp_path: Path, request: pytest.FixtureRequest, choices: list[dict[str, str]]) -> Speaker:
    """A speaker of the environment the test is parametrized with, or else of one of ``choices`` picked by the
    test's name: which variable selects the language is a pure function tested case by case above, and each
    way is walked end to end by the help tests and by about a third of the others, not every test three times."""
    language = getattr(request, "param", None)
    if language is None:
        language = choices[zlib.crc32(request.node.originalname.encode()) % len(choices)]
    return Speaker(tmp_path, **language)


@pytest.fixture
def vietnamese(tmp_path: Path, request: pytest.FixtureRequest) -> Speaker:
    return _speaker(tmp_path, request, VIETNAMESE)


@pytest.fixture
def english(tmp_path: Path, request: pytest.FixtureRequest) -> Speaker:
    return _speaker(tmp_path, request, ENGLISH)


# --- which language -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "vi"), ({"LANG": "vi_VN.UTF-8"}, "vi"), ({"LANG": "C.UTF-8"}, "vi"), ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LC_ALL": "en_US.UTF-8"}, "en"), ({"LANGUAGE": "en"}, "en"), ({"CONGVAN_LANG": "vi", "LANG": "en_US"}, "vi"),
    ({"CONGVAN_LANG": "EN"}, "en"), ({"CONGVAN_LANG": "fr", "LANG": "en_US"}, "en"), ({"CONGVAN_LANG": "fr"}, "vi"),
])
def test_the_language_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                 expected: str) -> None:
    for name in LANGUAGE_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert i18n.language() == expected


def test_statuses_in_vietnamese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGVAN_LANG", "vi")
    words = {s: i18n.status_word(s) for s in ("sent", "failed_permanent", "failed_temporary", "pending", "planned",
                                              "awaiting_approval", "moot", "held")}
    assert words == {"sent": "đã gửi", "failed_permanent": "bị từ chối", "failed_temporary": "lỗi tạm thời",
                     "pending": "chờ gửi", "planned": "dự kiến", "awaiting_approval": "chờ duyệt",
                     "moot": "không cần gửi", "held": "tạm dừng"}
    monkeypatch.setenv("CONGVAN_LANG", "en")
    assert i18n.status_word("failed_temporary") == "failed_temporary"


# --- the catalogue ------------------------------------------------------------------------------------------


def test_every_msgid_in_the_code_has_its_vietnamese() -> None:
    import messages

    translations = i18n.read_po(i18n.PO_FILE.read_text(encoding="utf-8"))
    used = messages.all_msgids()
    assert len(used) > 250
    missing = [f"{where}: {msgid!r}" for msgid, where in used.items() if not translations.get(msgid)]
    assert not missing, "untranslated (run python scripts/messages.py, fill in the .po):\n" + "\n".join(missing)


def test_translations_keep_the_placeholders() -> None:
    translations = i18n.read_po(i18n.PO_FILE.read_text(encoding="utf-8"))

    def fields(text: str) -> set[str] | None:
        try:
            return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError:  # not a format string ("did not find expected ',' or '}'"): used as it is
            return None

    # A translation may leave a value out (pydantic's "List" in "{field_type} should have…"), never invent one.
    wrong = {m: t for m, t in translations.items() if m and t and fields(m) is not None
             and not (fields(t) or set()) <= (fields(m) or set())}
    assert not wrong


def test_the_compiled_catalogue_is_the_po() -> None:
    """The .mo shipped is compiled from the .po as it is (python -m congvan.i18n rewrites it)."""
    assert i18n.MO_FILE.read_bytes() == i18n.compile_po(i18n.PO_FILE.read_text(encoding="utf-8"))


def test_the_catalogue_is_package_data() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo"' in text


def test_without_the_mo_the_po_is_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "MO_FILE", tmp_path / "absent.mo")
    i18n._catalogue.cache_clear()
    try:
        monkeypatch.setenv("CONGVAN_LANG", "vi")
        assert i18n._("Error: ") == "Lỗi: "
    finally:
        i18n._catalogue.cache_clear()


# --- commands, in Vietnamese ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vietnamese", VIETNAMESE, ids=VIETNAMESE_IDS, indirect=True)
def test_help_in_vietnamese(vietnamese: Speaker) -> None:
    top = vietnamese.run("--help")
    assert top.returncode == 0, top.stderr
    assert top.stdout.startswith("Cách dùng: congvan")
    assert "Ban hành công văn" in top.stdout and "Lệnh:" in top.stdout and "Tùy chọn:" in top.stdout
    status = vietnamese.run("status", "--help")
    assert "Tình hình thực hiện từng đơn vị" in status.stdout
    assert "Làm như thể hôm nay là ngày này (YYYY-MM-DD)." in status.stdout
    assert "Hiện hướng dẫn này rồi thoát." in status.stdout
    assert "Ví dụ: congvan status par-index-2022 --as-of 2023-02-27" in status.stdout
    # An argument's help too (Click 8.5 with Typer 0.25 dropped every one: the pin in pyproject.toml).
    check = vietnamese.run("check", "--help")
    assert "FILES...  Các tệp .docx cần kiểm tra." in check.stdout


@pytest.mark.parametrize("english", ENGLISH, ids=ENGLISH_IDS, indirect=True)
def test_help_in_english(english: Speaker) -> None:
    top = english.run("--help")
    assert top.returncode == 0, top.stderr
    assert top.stdout.startswith("Usage: congvan")
    assert "Issue Vietnamese official dispatches" in top.stdout and "Commands:" in top.stdout
    assert "Show this message and exit." in english.run("status", "--help").stdout
    assert "FILES...  The .docx files to check." in english.run("check", "--help").stdout


def test_usage_errors_in_vietnamese(vietnamese: Speaker) -> None:
    missing = vietnamese.run("render")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "Lỗi: Thiếu tham số 'CAMPAIGN'." in missing.stderr  # named as the usage line shows it
    assert "Cách dùng: congvan render" in missing.stderr
    typo = vietnamese.run("statu")
    assert typo.returncode == 2
    assert "Lỗi: Không có lệnh 'statu'. Có phải là 'status'?" in typo.stderr
    bad_date = vietnamese.run("status", CAMPAIGN, "--as-of", "2023-02-30")
    assert bad_date.returncode == 2
    assert bad_date.stderr.strip() == ("Lỗi: Giá trị không hợp lệ cho '--as-of': '2023-02-30' không phải là ngày "
                                       "(YYYY-MM-DD hoặc ngày/tháng/năm)")


def test_usage_errors_in_english(english: Speaker) -> None:
    missing = english.run("render")
    assert missing.returncode == 2
    assert "Error: Missing argument 'CAMPAIGN'." in missing.stderr
    bad_date = english.run("status", CAMPAIGN, "--as-of", "2023-02-30")
    assert bad_date.stderr.strip() == ("Error: Invalid value for '--as-of': '2023-02-30' is not a date "
                                       "(YYYY-MM-DD or dd/mm/yyyy)")


def test_config_errors_in_vietnamese_with_line_and_column(vietnamese: Speaker) -> None:
    config = vietnamese.project.config
    campaign = config / "campaigns" / f"{CAMPAIGN}.yaml"
    text = campaign.read_text(encoding="utf-8")
    campaign.write_text(text.replace("deadline: 2023-02-24", "deadline: 2023-02-30"), encoding="utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "deadline: 2023-02-24" in t)
    column = text.splitlines()[line - 1].index("2023") + 1
    units = config / "units.yaml"
    codes = [n for n, t in enumerate(units.read_text(encoding="utf-8").splitlines(), 1) if t.startswith("  - code:")]
    lines = units.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[codes[3] - 1] = "  - code: S NV\n"  # the fourth unit
    units.write_text("".join(lines), encoding="utf-8")
    result = vietnamese.run("validate", CAMPAIGN)
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert all(e.startswith("Lỗi: ") for e in errors), result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
    assert (f"Lỗi: config/campaigns/{CAMPAIGN}.yaml: follow_up, deadline: Giá trị phải là ngày hợp lệ (YYYY-MM-DD), "
            f"ngày không có trong tháng (dòng {line}, cột {column})") in errors
    assert ("Lỗi: config/units.yaml: units, mục 4, code: 'S NV' không phải mã hợp lệ (chữ, số, '-' hoặc '_', tối đa "
            f"32 ký tự) (dòng {codes[3]}, cột 11)") in errors


def test_a_yaml_syntax_error_in_vietnamese(vietnamese: Speaker) -> None:
    """A quote inside a quoted paragraph: the parser's words explained, with line and column."""
    campaign = vietnamese.project.config / "campaigns" / f"{CAMPAIGN}.yaml"
    lines = campaign.read_text(encoding="utf-8").splitlines(keepends=True)
    n = next(n for n, t in enumerate(lines, 1) if t.startswith("signer:"))
    lines[n - 1] = 'signer: "chu-tich" và "pho-chu-tich"\n'
    campaign.write_text("".join(lines), encoding="utf-8")
    result = vietnamese.run("validate", CAMPAIGN)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Lỗi: config/campaigns/{CAMPAIGN}.yaml: dòng {n}, cột 20: "), line
    assert "Error" not in line


def test_a_yaml_syntax_error_in_english(english: Speaker) -> None:
    campaign = english.project.config / "campaigns" / f"{CAMPAIGN}.yaml"
    lines = campaign.read_text(encoding="utf-8").splitlines(keepends=True)
    n = next(n for n, t in enumerate(lines, 1) if t.startswith("signer:"))
    lines[n - 1] = "signer: [chu-tich\n"
    campaign.write_text("".join(lines), encoding="utf-8")
    result = english.run("validate", CAMPAIGN)
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: config/campaigns/{CAMPAIGN}.yaml: line ")
    assert f"(while parsing a flow sequence started at line {n})" in line


def test_a_bad_setting_in_vietnamese(vietnamese: Speaker) -> None:
    result = vietnamese.run("validate", CAMPAIGN, CONGVAN_SMTP_PORT="hai-lăm")
    assert result.returncode == 2
    assert result.stderr.strip() == "Lỗi: CONGVAN_SMTP_PORT: Giá trị phải là số nguyên"


def test_validate_and_status_in_vietnamese(vietnamese: Speaker) -> None:
    ok = vietnamese.run("validate", CAMPAIGN)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"{CAMPAIGN}: ĐẠT: gửi 36 đơn vị (3 mục 'Kính gửi'), người ký Phạm Ngọc Nghị")
    assert "; đôn đốc: hạn trả lời 24/02/2023" in ok.stdout
    loaded = vietnamese.run("roster", "import", CAMPAIGN)
    assert loaded.stdout.startswith("par-index-2022.xlsx: đã nạp danh sách 540 cán bộ")
    status = vietnamese.run("status", CAMPAIGN, "--as-of", "2023-02-27")
    assert status.returncode == 0, status.stderr
    head, columns, *rows = status.stdout.splitlines()
    assert head == (f"{CAMPAIGN} ngày 27/02/2023: hạn trả lời 24/02/2023, 0/540 người đã trả lời, "
                    "36 đơn vị chưa đạt")
    assert columns.split() == ["Mã", "Đơn", "vị", "Đã", "trả", "lời", "Tỷ", "lệ", "Còn", "thiếu", "Cấp", "Công",
                               "văn", "Bước", "tiếp", "theo"]
    snv = next(r for r in rows if r.startswith("! SNV "))
    assert "Sở Nội vụ" in snv and "chờ gửi" in snv and "don-doc ngày 27/02/2023" in snv
    assert "next:" not in status.stdout and "unit(s)" not in status.stdout


def test_status_in_english(english: Speaker) -> None:
    english.run("roster", "import", CAMPAIGN)
    status = english.run("status", CAMPAIGN, "--as-of", "2023-02-27")
    head, columns, *rows = status.stdout.splitlines()
    assert head == f"{CAMPAIGN} as of 27/02/2023: deadline 24/02/2023, 0/540 answered, 36 unit(s) behind"
    assert columns.split()[:3] == ["Code", "Unit", "Answered"]
    snv = next(r for r in rows if r.startswith("! SNV "))
    assert "Sở Nội vụ" in snv and "pending" in snv and "don-doc on 27/02/2023" in snv


def test_json_stays_as_it_is_in_vietnamese(vietnamese: Speaker) -> None:
    import json

    vietnamese.run("roster", "import", CAMPAIGN)
    data = json.loads(vietnamese.run("status", CAMPAIGN, "--as-of", "2023-02-27", "--json").stdout)
    snv = next(u for u in data["units"] if u["code"] == "SNV")
    assert snv["next_step"] == "don-doc on 2023-02-27"
    assert snv["delivery"]["status"] == "pending"
    assert data["as_of"] == "2023-02-27"


def test_the_suite_reads_english(tmp_path: Path) -> None:
    """tests/support.py::error_lines reads "Error: " lines: the suite runs in English (tests/conftest.py)."""
    assert os.environ["CONGVAN_LANG"] == "en"
    assert Project(tmp_path).env["CONGVAN_LANG"] == "en"


def test_vietnamese_help_starts_without_the_heavy_libraries() -> None:
    """The catalogue costs the start-up nothing heavy: gettext from the standard library, the .mo read once."""
    probe = ("import sys; from congvan.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = ('prefect', 'sqlalchemy', 'matplotlib', 'docxtpl', 'openpyxl', 'pydantic', 'yaml')\n"
             "print(sorted(m for m in heavy if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60,
                            env={**os.environ, "CONGVAN_LANG": "vi"})
    assert result.returncode == 0, result.stderr
    assert "Cách dùng: congvan" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_dispatch_dry_run_in_vietnamese(tmp_path: Path, prefect_api: str) -> None:
    """Progress, table and summary through the catalogue; the statuses in Vietnamese words."""
    speaker = Speaker(tmp_path)
    result = speaker.run("dispatch", CAMPAIGN, "--as-of", "2023-02-10", "--dry-run", timeout=300,
                         PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"))
    assert result.returncode == 0, result.stderr[-3000:]
    first, *rows, last = result.stdout.splitlines()
    assert first.startswith("Chạy thử: không gửi gì, không lấy số. Dự thảo: ")
    assert len(rows) == 38 and all(row.split()[1:3] == ["dự", "kiến"] for row in rows)
    assert last == "dự kiến gửi 38 thư"
    assert "planned" not in result.stdout


# --- domain errors, in Vietnamese ------------------------------------------------------------------------------


def _vietnamese_errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr's lines: each a "Lỗi: " line, no traceback, no English "Error"."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("Lỗi: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
    return lines


def test_a_bad_units_workbook_in_vietnamese(vietnamese: Speaker, tmp_path: Path) -> None:
    import openpyxl

    book_path = tmp_path / "don-vi.xlsx"
    assert vietnamese.run("units", "export", "--out", str(book_path)).returncode == 0
    book = openpyxl.load_workbook(book_path)
    ws = book["Đơn vị"]
    ws["D5"] = "vanthu.stp@daklak"  # a mailbox without a top-level domain
    ws["B7"] = None  # no name
    ws["A9"] = ws["A8"].value  # the code of row 8 again
    book.save(book_path)
    lines = _vietnamese_errors(vietnamese.run("units", "import", str(book_path)))
    assert len(lines) == 3, lines
    assert lines[0].startswith("Lỗi: don-vi.xlsx, trang 'Đơn vị', dòng 5, cột 'Hộp thư chung': 'vanthu.stp@daklak' "
                               "không phải địa chỉ thư hợp lệ (tên miền"), lines
    assert "Lỗi: don-vi.xlsx, trang 'Đơn vị', dòng 7, cột 'Tên đơn vị': bắt buộc, nhưng ô đang để trống" in lines
    code = ws["A8"].value
    assert (f"Lỗi: don-vi.xlsx, trang 'Đơn vị', dòng 9, cột 'Mã đơn vị': mã đơn vị {code!r} bị trùng (cũng có ở "
            "dòng 8; mã được so không phân biệt chữ hoa, chữ thường)") in lines
    not_excel = vietnamese.run("units", "import", str(tmp_path / "don-vi.csv"))
    assert _vietnamese_errors(not_excel) == [f"Lỗi: {tmp_path / 'don-vi.csv'}: không phải sổ Excel (.xlsx)"]


def test_a_campaign_that_exists_already_in_vietnamese(vietnamese: Speaker) -> None:
    (line,) = _vietnamese_errors(vietnamese.run("new", CAMPAIGN, "--from", CAMPAIGN))
    assert line.startswith("Lỗi: ") and line.endswith(
        f"campaigns/{CAMPAIGN}.yaml: chiến dịch '{CAMPAIGN}' đã có; hãy chọn tên khác"), line


def test_a_template_field_the_config_lacks_in_vietnamese(vietnamese: Speaker) -> None:
    import zipfile

    template = vietnamese.project.root / "templates" / "cong_van.docx"
    with zipfile.ZipFile(template) as zin:
        parts = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(template, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in parts:
            if info.filename == "word/document.xml":
                data = data.decode("utf-8").replace("Nơi nhận:", "Nơi nhận: {{ han_chot }}", 1).encode("utf-8")
            zout.writestr(info, data)
    (line,) = _vietnamese_errors(vietnamese.run("validate", CAMPAIGN))
    assert line.startswith(f"Lỗi: config/campaigns/{CAMPAIGN}.yaml: fields: "), line
    assert line.endswith("cong_van.docx cần (các) trường mà cấu hình chưa có: han_chot (bổ sung trong mục "
                         "'fields:')"), line


def test_a_register_number_refused_in_vietnamese(vietnamese: Speaker) -> None:
    zero = vietnamese.run("register", "set-next", "ubnd-daklak", "2024", "0")
    assert _vietnamese_errors(zero) == ["Lỗi: số trong sổ bắt đầu từ 1, không thể là 0"]
    year = vietnamese.run("register", "set-next", "ubnd-daklak", "1024", "215")
    (line,) = _vietnamese_errors(year)
    assert line.startswith("Lỗi: năm 1024 không hợp lệ (phải từ "), line


def test_a_register_number_refused_in_english(english: Speaker) -> None:
    zero = english.run("register", "set-next", "ubnd-daklak", "2024", "0")
    assert zero.returncode == 2
    assert zero.stderr.splitlines() == ["Error: register numbers start at 1, not 0"]


# Modules whose user-facing errors go through the catalogue: no message written as a literal at the raise.
TRANSLATED_MODULES = (
    "congvan/approvals.py", "congvan/dispatch.py", "congvan/documents.py", "congvan/errors.py",
    "congvan/escalation.py", "congvan/imap.py", "congvan/letters.py", "congvan/mail_bodies.py", "congvan/register.py",
    "congvan/register_book.py", "congvan/render.py", "congvan/report.py", "congvan/report_chart.py",
    "congvan/reports.py", "congvan/scaffold.py",
    "congvan/signoff.py", "congvan/units_excel.py", "congvan/validation.py", "congvan/pdf/toolchain.py",
    "congvan/pdf/verify.py", "congvan/signing/keyring.py", "congvan/signing/keys.py", "congvan/signing/layout.py",
    "congvan/signing/sign.py", "congvan/signing/verify.py", "congvan/store/db.py", "congvan/store/schema.py",
    "congvan/config/checks.py", "congvan/config/loading.py", "congvan/config/messages.py", "congvan/config/models.py",
    "congvan/config/values.py", "congvan/config/yaml_reader.py", "congvan/roster/cells.py",
    "congvan/roster/importing.py", "congvan/roster/rows.py", "congvan/roster/sources.py", "congvan/mail_compose.py",
    "congvan/mail_transport.py", "congvan/mailcatcher/server.py", "congvan/mailcatcher/storage.py",
    "congvan/delivery.py", "congvan/bounces.py",
    "congvan/cli_store.py",
)


def _english_literal(node: object) -> bool:
    """A string literal or f-string with words in it: a message that cannot be translated."""
    import ast

    if isinstance(node, ast.Constant):
        parts = [node.value] if isinstance(node.value, str) else []
    elif isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    else:
        return False
    return any(c.isalpha() for part in parts for c in part)


def test_errors_are_translated_where_they_are_raised() -> None:
    """``raise XError(f"…")`` (or a plain English string) in a module that translates its errors: the message
    would reach a coordinator in English. Write ``raise XError(_("… {name} …").format(name=…))`` instead."""
    import ast

    from congvan import errors

    names = {name for name, value in vars(errors).items()
             if isinstance(value, type) and issubclass(value, errors.CongVanError)} | {"ImportRejected"}
    found = []
    for module in TRANSLATED_MODULES:
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"), module)
        for node in ast.walk(tree):
            call = node.exc if isinstance(node, ast.Raise) else node
            if not isinstance(call, ast.Call):
                continue
            func = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
            if isinstance(node, ast.Raise) and func in names:
                messages = call.args[:1] + [k.value for k in call.keywords if k.arg == "message"]
            elif func == "Problem" and len(call.args) >= 3:
                messages = [call.args[2]]
            else:
                continue
            if any(_english_literal(m) for m in messages):
                found.append(f"{module}:{call.lineno}: {ast.unparse(call)[:100]}")
    assert not found, "untranslated messages (wrap them in _()):\n" + "\n".join(found)
    assert len(TRANSLATED_MODULES) == len({ROOT / m for m in TRANSLATED_MODULES if (ROOT / m).is_file()})


# --- imports, the mail server: in Vietnamese -------------------------------------------------------------------


def test_a_roster_with_bad_rows_in_vietnamese(vietnamese: Speaker, tmp_path: Path) -> None:
    """Every bad row on its own line (file, row, what is wrong), nothing loaded, exit 2."""
    roster = tmp_path / "danh-sach.csv"
    roster.write_text("Mã cán bộ,Họ và tên,Chức vụ,Đơn vị,Email\n"
                      "A-01,Nguyễn Văn An,Chuyên viên,SNV,\n"
                      "A-02,,Chuyên viên,SNV,\n"
                      "A-03,Trần Thị Bình,Chuyên viên,Sở Du lịch Hải Đảo,\n"
                      "A-01,Lê Văn Cường,Chuyên viên,STP,cuong@\n", encoding="utf-8")
    lines = _vietnamese_errors(vietnamese.run("roster", "import", CAMPAIGN, str(roster)))
    assert lines == [
        "Lỗi: danh-sach.csv, dòng 3: thiếu họ và tên",
        "Lỗi: danh-sach.csv, dòng 4: không có đơn vị 'Sở Du lịch Hải Đảo' (hãy ghi mã hoặc tên đơn vị trong "
        "units.yaml)",
        "Lỗi: danh-sach.csv, dòng 5: 'cuong@' không phải địa chỉ thư hợp lệ (tên miền '' sai hoặc thiếu)",
        "Lỗi: danh-sach.csv, dòng 5: mã cán bộ 'A-01' bị trùng (đã có ở dòng 2)",
    ], lines
    no_header = tmp_path / "khong-tieu-de.csv"
    no_header.write_text("Họ và tên,Đơn vị\nNguyễn Văn An,SNV\n", encoding="utf-8")
    (line,) = _vietnamese_errors(vietnamese.run("roster", "import", CAMPAIGN, str(no_header)))
    assert line.startswith("Lỗi: khong-tieu-de.csv: không có dòng tiêu đề chứa cột mã cán bộ 'Mã cán bộ' (hoặc "), line
    assert line.endswith("trong 10 dòng đầu; dòng đầu tiên tìm thấy: 'Họ và tên', 'Đơn vị'"), line


def test_a_response_export_with_an_impossible_date_in_vietnamese(vietnamese: Speaker, tmp_path: Path) -> None:
    export = tmp_path / "ket-qua.csv"
    export.write_text("Mã cán bộ,Thời gian hoàn thành\nX-01,31/02/2023 09:15\nX-02,hôm qua\n", encoding="utf-8")
    lines = _vietnamese_errors(vietnamese.run("responses", "import", CAMPAIGN, str(export)))
    assert lines == [
        "Lỗi: ket-qua.csv, dòng 2: '31/02/2023 09:15' không phải ngày giờ có thật (ngày vượt quá số ngày của tháng; "
        "ngày viết trước tháng)",
        "Lỗi: ket-qua.csv, dòng 3: không đọc được thời gian 'hôm qua' (cần có dạng dd/mm/yyyy HH:MM:SS, dd/mm/yyyy "
        "hoặc yyyy-mm-dd HH:MM)",
    ], lines
    # A readable export from someone not on the roster: loaded, with a warning in Vietnamese.
    assert vietnamese.run("roster", "import", CAMPAIGN).returncode == 0
    export.write_text("Mã cán bộ,Thời gian hoàn thành\nZZ-99,20/02/2023 09:15\n", encoding="utf-8")
    loaded = vietnamese.run("responses", "import", CAMPAIGN, str(export))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("ket-qua.csv: 1 dòng, 1 người trả lời mới"), loaded.stdout
    assert ("Cảnh báo: ket-qua.csv, dòng 2: mã cán bộ 'ZZ-99' không có trong danh sách cán bộ (vẫn lưu, báo là "
            "không xác định)") in loaded.stderr.splitlines(), loaded.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["dispatch", "approve"])
def test_no_mail_server_in_vietnamese(tmp_path: Path, prefect_api: str, command: str) -> None:
    """Nothing listens on CONGVAN_SMTP_PORT: one Vietnamese line saying what to do, exit 2, nothing numbered."""
    speaker = Speaker(tmp_path)
    speaker.project.edit(f"campaigns/{CAMPAIGN}.yaml", lambda c: c.update(pdf=False, attach=["docx"]))
    port = _free_port()
    result = speaker.run(command, CAMPAIGN, "--as-of", "2023-02-10", timeout=120, CONGVAN_SMTP_PORT=str(port),
                         PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect-home"),
                         CONGVAN_DATABASE_URL=f"sqlite:///{tmp_path / 'outputs' / 'congvan.db'}")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(("Lỗi: ", "Error: "))]
    assert line == (f"Lỗi: không kết nối được máy chủ thư 127.0.0.1:{port} (none): kết nối bị từ chối; chưa lấy số, "
                    f"chưa gửi gì: nếu đó là hộp thư thử của congvan, hãy khởi động bằng lệnh `congvan mailcatcher "
                    f"--port {port}` trong một cửa sổ dòng lệnh khác; nếu không, hãy đặt CONGVAN_SMTP_HOST và "
                    "CONGVAN_SMTP_PORT"), line


def test_a_new_campaign_says_what_to_edit_in_vietnamese(vietnamese: Speaker) -> None:
    made = vietnamese.run("new", "dot-moi", "--from", CAMPAIGN)
    assert made.returncode == 0, made.stderr
    text = (vietnamese.project.config / "campaigns" / "dot-moi.yaml").read_text(encoding="utf-8")
    assert text.startswith(f"# Tạo từ chiến dịch {CAMPAIGN} bằng lệnh `congvan new`: hãy sửa tiêu đề, ngày "
                           "tháng, trích yếu, nội dung và hạn trả lời.\n"), text[:200]
    assert "Made from" not in text
