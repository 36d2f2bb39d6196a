"""Write the sample roster of the par-index-2022 campaign: config/rosters/par-index-2022.xlsx.

Every person is fictional; addresses are under daklak.example (a reserved domain). The seed is fixed
and the workbook's timestamps too, so running this again gives the same bytes (a clean git diff).
Each unit's head (units.yaml) tops its list; 10-20 officials per unit.

    .venv/bin/python config/rosters/make_sample_roster.py
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import yaml
from openpyxl.styles import Alignment, Font, PatternFill

HERE = Path(__file__).resolve().parent
UNITS = HERE.parent / "units.yaml"
OUT = HERE / "par-index-2022.xlsx"
SEED = 2022
FIXED_TIME = dt.datetime(2023, 2, 6, 8, 0)
HEADERS = ("Mã cán bộ", "Họ và tên", "Chức vụ", "Đơn vị", "Email")
WIDTHS = (18, 28, 44, 12, 44)

FAMILY = ("Nguyễn", "Nguyễn", "Nguyễn", "Trần", "Trần", "Lê", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ",
          "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
MIDDLE_MALE = ("Văn", "Đức", "Minh", "Quốc", "Hữu", "Công", "Thanh", "Xuân", "Ngọc", "Đình")
MIDDLE_FEMALE = ("Thị", "Thị", "Thị Thu", "Thị Thanh", "Ngọc", "Thị Kim", "Thị Hồng", "Thị Minh")
GIVEN_MALE = ("An", "Bảo", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hoàng", "Hùng", "Khánh", "Long", "Nam",
              "Phong", "Quang", "Sơn", "Thắng", "Thành", "Tuấn", "Việt", "Vinh")
GIVEN_FEMALE = ("Anh", "Châu", "Dung", "Giang", "Hà", "Hằng", "Hạnh", "Hương", "Lan", "Linh", "Mai", "Nga",
                "Ngân", "Nhung", "Phương", "Quyên", "Thảo", "Trang", "Uyên", "Yến")
# Ê Đê names: "Y" for men, "H'" for women, then the given name, then the clan (family) name last.
EDE_CLAN = ("Niê", "Byă", "Mlô", "Êban", "Ksơr", "Adrơng", "Knul", "Hwing", "Ayŭn", "Kbuôr", "Êñuôl", "Buôn Yă")
EDE_MALE = ("Khoa", "Moan", "Suôn", "Thuật", "Bhin", "Kô", "Dhăm", "Jôn", "Blôk", "Wai")
EDE_FEMALE = ("Nga", "Bhiăn", "Hoa", "Ruê", "Năm", "Lin", "Juên", "Yim", "Djuan", "Lý")

# Positions from the top; the list is cut or padded to the unit's size (the first is the head).
SO = ("Giám đốc", "Phó Giám đốc", "Phó Giám đốc", "Chánh Văn phòng", "Chánh Thanh tra",
      "Trưởng phòng Tổ chức - Hành chính", "Trưởng phòng Kế hoạch - Tài chính", "Trưởng phòng Quản lý chuyên ngành",
      "Phó Chánh Văn phòng", "Phó Chánh Thanh tra", "Phó Trưởng phòng Tổ chức - Hành chính",
      "Phó Trưởng phòng Kế hoạch - Tài chính", "Phó Trưởng phòng Quản lý chuyên ngành")
SO_FILL = ("Chuyên viên chính", "Chuyên viên")
BAN = ("Trưởng ban", "Phó Trưởng ban", "Phó Trưởng ban", "Chánh Văn phòng", "Trưởng phòng Nghiệp vụ",
       "Phó Chánh Văn phòng", "Phó Trưởng phòng Nghiệp vụ")
THANH_TRA = ("Chánh Thanh tra", "Phó Chánh Thanh tra", "Phó Chánh Thanh tra", "Chánh Văn phòng",
             "Trưởng phòng Nghiệp vụ 1", "Trưởng phòng Nghiệp vụ 2", "Phó Chánh Văn phòng")
THANH_TRA_FILL = ("Thanh tra viên chính", "Thanh tra viên")
VAN_PHONG = ("Chánh Văn phòng", "Phó Chánh Văn phòng", "Phó Chánh Văn phòng", "Trưởng phòng Hành chính - Tổ chức",
             "Trưởng phòng Tổng hợp", "Trưởng phòng Quản trị - Tài vụ", "Phó Trưởng phòng Tổng hợp")
HUYEN = ("Chủ tịch UBND", "Phó Chủ tịch UBND", "Phó Chủ tịch UBND", "Chánh Văn phòng HĐND và UBND",
         "Trưởng phòng Nội vụ", "Trưởng phòng Tài chính - Kế hoạch", "Trưởng phòng Tư pháp",
         "Trưởng phòng Tài nguyên và Môi trường", "Trưởng phòng Giáo dục và Đào tạo", "Trưởng phòng Y tế",
         "Trưởng phòng Văn hóa và Thông tin", "Trưởng phòng Lao động - Thương binh và Xã hội",
         "Trưởng phòng Kinh tế và Hạ tầng", "Trưởng phòng Dân tộc", "Chánh Thanh tra huyện",
         "Phó Trưởng phòng Nội vụ", "Phó Chánh Văn phòng HĐND và UBND", "Phó Trưởng phòng Tư pháp")
HUYEN_FILL = ("Chuyên viên Phòng Nội vụ", "Chuyên viên Văn phòng HĐND và UBND")


def positions(unit: dict[str, Any], size: int) -> list[str]:
    name = unit["name"]
    if unit["group"] == "ubnd-huyen":
        top, fill = HUYEN, HUYEN_FILL
        if "thành phố" in name or "thị xã" in name:  # towns have a Phòng Quản lý đô thị, not Kinh tế và Hạ tầng
            top = tuple("Trưởng phòng Quản lý đô thị" if p == "Trưởng phòng Kinh tế và Hạ tầng" else p for p in top)
    elif name.startswith("Văn phòng"):
        top, fill = VAN_PHONG, SO_FILL
    elif name.startswith("Thanh tra"):
        top, fill = THANH_TRA, THANH_TRA_FILL
    elif name.startswith("Ban"):
        top, fill = BAN, SO_FILL
    else:
        top, fill = SO, SO_FILL
    return [*top, *(fill[i % len(fill)] for i in range(max(0, size - len(top))))][:size]


def person(rng: random.Random) -> str:
    female = rng.random() < 0.45
    if rng.random() < 0.12:
        given = rng.choice(EDE_FEMALE if female else EDE_MALE)
        return f"{'H' + chr(39) if female else 'Y '}{given} {rng.choice(EDE_CLAN)}"
    middle = rng.choice(MIDDLE_FEMALE if female else MIDDLE_MALE)
    return f"{rng.choice(FAMILY)} {middle} {rng.choice(GIVEN_FEMALE if female else GIVEN_MALE)}"


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in plain if not unicodedata.combining(c)).lower())


def roster(units: list[dict[str, Any]], rng: random.Random) -> list[tuple[str, str, str, str, str]]:
    rows = []
    emails: set[str] = set()
    for unit in units:
        code = unit["code"]
        size = rng.randint(10, 20)
        for n, position in enumerate(positions(unit, size), start=1):
            name = unit["head"]["name"] if n == 1 else person(rng)
            email = unit["head"]["email"] if n == 1 else f"{ascii_slug(name)}.{code.lower()}@daklak.example"
            while email in emails:  # two namesakes in one unit
                email = email.replace("@", f"{n}@", 1)
            emails.add(email)
            rows.append((f"DL-{code}-{n:03d}", unicodedata.normalize("NFC", name), position, code, email))
    return rows


def workbook(rows: list[tuple[str, str, str, str, str]]) -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Danh sách"
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = Font(name="Times New Roman", bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for row in rows:
        ws.append(row)
        for cell in ws[ws.max_row]:
            cell.font = Font(name="Times New Roman")
    for i, width in enumerate(WIDTHS):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    wb.properties.creator = "congvan (sample data)"
    wb.properties.created = FIXED_TIME
    return wb


def reproducible(data: bytes) -> bytes:
    """The same zip with fixed member timestamps and a fixed 'modified' date: same input, same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6]), body,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def main() -> None:
    units = yaml.safe_load(UNITS.read_text(encoding="utf-8"))["units"]
    rows = roster(units, random.Random(SEED))
    buf = io.BytesIO()
    workbook(rows).save(buf)
    OUT.write_bytes(reproducible(buf.getvalue()))
    print(f"{OUT.name}: {len(rows)} staff in {len(units)} units")


if __name__ == "__main__":
    main()
