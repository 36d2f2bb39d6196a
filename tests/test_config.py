"""Loading config/: the shipped sample, and each kind of bad configuration on its own, each reported
with the file and the field at fault; several problems in several files are all reported at once."""

from __future__ import annotations

import shutil
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import edit_yaml, project_copy

from congvan.config import check_address, load_campaign
from congvan.errors import ConfigError, Problem
from congvan.text import has_header_break
from congvan.validation import validate_campaign

CAMPAIGN = "par-index-2022"
EVIL = "Sở Nội vụ\r\nBcc: x@evil.example"

DISTRICTS = [
    "Buôn Ma Thuột", "Buôn Hồ", "Buôn Đôn", "Cư Kuin", "Cư M'gar", "Ea H'leo", "Ea Kar", "Ea Súp",
    "Krông Ana", "Krông Bông", "Krông Búk", "Krông Năng", "Krông Pắc", "Lắk", "M'Đrắk",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return project_copy(tmp_path)


@pytest.fixture
def cfg(project: Path) -> Path:
    return project / "config"


def units(cfg: Path, change: Callable[[Any], None]) -> None:
    edit_yaml(cfg / "units.yaml", change)


def campaign(cfg: Path, change: Callable[[Any], None]) -> None:
    edit_yaml(cfg / "campaigns" / f"{CAMPAIGN}.yaml", change)


def authorities(cfg: Path, change: Callable[[Any], None]) -> None:
    edit_yaml(cfg / "authorities.yaml", change)


def problems(cfg: Path, name: str = CAMPAIGN) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_campaign(cfg, name)
    assert info.value.problems, "a ConfigError must list its problems"
    return list(info.value.problems)


def only_problem(cfg: Path, name: str = CAMPAIGN) -> Problem:
    found = problems(cfg, name)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def assert_at(problem: Problem, file: str, field: str) -> None:
    assert Path(problem.file).name == file, str(problem)
    assert problem.field == field, str(problem)
    at = f"line {problem.line}, column {problem.column}" if problem.line is not None else ""
    if field:
        assert str(problem) == f"{problem.file}: {field}: {problem.message}" + (f" ({at})" if at else "")
    else:
        assert str(problem) == ": ".join(p for p in (problem.file, at, problem.message) if p)


def unit_index(cfg: Path, code: str) -> int:
    import yaml

    data = yaml.safe_load((cfg / "units.yaml").read_text(encoding="utf-8"))
    return next(i for i, u in enumerate(data["units"]) if u["code"] == code)


# --- the shipped sample ------------------------------------------------------------------------------


def test_sample_loads_with_36_addressees_each_once(cfg: Path) -> None:
    lc = load_campaign(cfg, CAMPAIGN)
    codes = [a.unit.code for a in lc.addressees]
    assert len(codes) == 36
    assert len(set(codes)) == 36
    assert codes[0] == "VPDDBQH"
    by_group = {g: [a for a in lc.addressees if a.unit.group == g] for g in lc.groups}
    assert {g: len(v) for g, v in by_group.items()} == {"dan-cu": 1, "so-ban-nganh": 20, "ubnd-huyen": 15}
    assert lc.kinh_gui == ("Văn phòng Đoàn ĐBQH và HĐND tỉnh", "Các sở, ban, ngành",
                           "UBND các huyện, thị xã, thành phố")
    assert {a.via for a in by_group["ubnd-huyen"]} == {"UBND các huyện, thị xã, thành phố"}
    assert lc.symbol == "UBND-KSTTHC"
    assert lc.signer.name == "Phạm Ngọc Nghị"


def test_sample_addresses_are_all_under_the_reserved_domain(cfg: Path) -> None:
    lc = load_campaign(cfg, CAMPAIGN)
    addresses = [lc.authority.email] + [a.unit.email for a in lc.addressees] + \
        [a.unit.head.email for a in lc.addressees]
    assert len(addresses) == 73
    assert all(addr.endswith("@daklak.example") for addr in addresses), addresses
    assert len(set(addresses)) == len(addresses)


def test_sample_names_the_15_districts_each_once(cfg: Path) -> None:
    lc = load_campaign(cfg, CAMPAIGN)
    districts = [a.unit.name for a in lc.addressees if a.unit.group == "ubnd-huyen"]
    for district in DISTRICTS:
        matching = [n for n in districts if n.endswith(" " + district)]
        assert len(matching) == 1, (district, matching)
    assert all(unicodedata.is_normalized("NFC", a.unit.name) for a in lc.addressees)


def test_a_unit_named_twice_is_addressed_once(cfg: Path) -> None:
    campaign(cfg, lambda d: d["kinh_gui"].insert(0, {"unit": "snv"}))  # also in so-ban-nganh; any case
    lc = load_campaign(cfg, CAMPAIGN)
    assert len(lc.addressees) == 36
    snv = [a for a in lc.addressees if a.unit.code == "SNV"]
    assert len(snv) == 1 and snv[0].via == "Sở Nội vụ"
    assert lc.kinh_gui[0] == "Sở Nội vụ"


def test_list_marks_are_stripped_from_noi_nhan_and_luu(cfg: Path) -> None:
    campaign(cfg, lambda d: d.update(noi_nhan=["- Như trên;", "– TT Tỉnh ủy, TT HĐND tỉnh;", "CT, PCT UBND tỉnh."],
                                     luu="- Lưu: VT, KSTTHC (HLy 2)."))
    camp = load_campaign(cfg, CAMPAIGN).campaign
    assert camp.noi_nhan == ["Như trên", "TT Tỉnh ủy, TT HĐND tỉnh", "CT, PCT UBND tỉnh"]
    assert camp.luu == "VT, KSTTHC (HLy 2)"


def test_nfd_input_is_loaded_as_nfc(cfg: Path) -> None:
    i = unit_index(cfg, "KPAC")
    nfd_name = unicodedata.normalize("NFD", "UBND huyện Krông Pắc")
    nfd_summary = unicodedata.normalize("NFD", "tham gia điều tra xã hội học")
    assert nfd_name != "UBND huyện Krông Pắc"
    units(cfg, lambda d: d["units"][i].update(name=nfd_name))
    campaign(cfg, lambda d: d["summary"].__setitem__(0, nfd_summary))
    lc = load_campaign(cfg, CAMPAIGN)
    assert next(a.unit.name for a in lc.addressees if a.unit.code == "KPAC") == "UBND huyện Krông Pắc"
    assert lc.campaign.summary[0] == "tham gia điều tra xã hội học"


def test_names_with_ampersand_and_apostrophe_are_kept(cfg: Path) -> None:
    i = unit_index(cfg, "STNMT")
    units(cfg, lambda d: d["units"][i].update(name="Sở Tài nguyên & Môi trường"))
    lc = load_campaign(cfg, CAMPAIGN)
    names = {a.unit.name for a in lc.addressees}
    assert "Sở Tài nguyên & Môi trường" in names
    assert "UBND huyện Ea H'leo" in names


def test_yaml_merge_keys_are_allowed(cfg: Path) -> None:
    path = cfg / "authorities.yaml"
    pho = "        name: Trần Minh Đức\n        lines: [KT. CHỦ TỊCH, PHÓ CHỦ TỊCH]\n"
    text = path.read_text(encoding="utf-8").replace(
        "      chu-tich:\n        name: Phạm Ngọc Nghị\n",
        "      chu-tich: &ct\n        name: Phạm Ngọc Nghị\n").replace(
        "      pho-chu-tich:\n" + pho, "      pho-chu-tich:\n        <<: *ct\n" + pho)
    assert "<<: *ct" in text
    path.write_text(text, encoding="utf-8")
    campaign(cfg, lambda d: d.update(signer="pho-chu-tich"))
    lc = load_campaign(cfg, CAMPAIGN)
    assert lc.signer.name == "Trần Minh Đức"
    assert lc.signer.lines == ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]


# --- references between the files --------------------------------------------------------------------


def test_unknown_group_in_kinh_gui(cfg: Path) -> None:
    campaign(cfg, lambda d: d["kinh_gui"].append({"group": "so-nganh"}))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "kinh_gui[3].group")
    assert "unknown group 'so-nganh'" in p.message and "so-ban-nganh" in p.message  # lists the known ones


def test_unknown_unit_in_kinh_gui(cfg: Path) -> None:
    campaign(cfg, lambda d: d["kinh_gui"].__setitem__(0, {"unit": "SNVX"}))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "kinh_gui[0].unit")
    assert "unknown unit 'SNVX'" in p.message


def test_unit_whose_group_is_unknown(cfg: Path) -> None:
    i = unit_index(cfg, "EAHLEO")
    units(cfg, lambda d: d["units"][i].update(group="ubnd-huyen-x"))
    p = only_problem(cfg)
    assert_at(p, "units.yaml", f"units[{i}].group")
    assert "unknown group 'ubnd-huyen-x'" in p.message


def test_unknown_signer(cfg: Path) -> None:
    campaign(cfg, lambda d: d.update(signer="giam-doc"))  # a signer of another authority
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "signer")
    assert "unknown signer 'giam-doc'" in p.message and "chu-tich" in p.message


def test_unknown_authority(cfg: Path) -> None:
    campaign(cfg, lambda d: d.update(authority="ubnd-dak-lak"))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "authority")
    assert "unknown authority 'ubnd-dak-lak'" in p.message and "ubnd-daklak" in p.message


@pytest.mark.parametrize("code", ["SNV", "snv", "Snv"])
def test_duplicate_unit_code(cfg: Path, code: str) -> None:
    first, i = unit_index(cfg, "SNV"), unit_index(cfg, "KPAC")
    units(cfg, lambda d: d["units"][i].update(code=code))
    p = only_problem(cfg)
    assert_at(p, "units.yaml", f"units[{i}].code")
    assert f"duplicate unit code {code!r}" in p.message and f"units[{first}]" in p.message


def test_empty_group_is_reported_in_units(cfg: Path) -> None:
    units(cfg, lambda d: d["groups"].update({"doan-the": {"label": "Các đoàn thể"}}))
    p = only_problem(cfg)
    assert_at(p, "units.yaml", "groups.doan-the")
    assert "no unit" in p.message


def test_empty_group_addressed_by_a_campaign(cfg: Path) -> None:
    units(cfg, lambda d: d["groups"].update({"doan-the": {"label": "Các đoàn thể"}}))
    campaign(cfg, lambda d: d["kinh_gui"].append({"group": "doan-the"}))
    found = {(Path(p.file).name, p.field) for p in problems(cfg)}
    assert found == {("units.yaml", "groups.doan-the"), (f"{CAMPAIGN}.yaml", "kinh_gui[3].group")}


def test_kinh_gui_entry_with_both_unit_and_group(cfg: Path) -> None:
    campaign(cfg, lambda d: d["kinh_gui"].append({"unit": "SNV", "group": "so-ban-nganh"}))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "kinh_gui[3]")
    assert "exactly one of unit, group or name" in p.message


def test_kinh_gui_entry_with_nothing(cfg: Path) -> None:
    campaign(cfg, lambda d: d["kinh_gui"].append({}))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "kinh_gui[3]")


def test_email_on_a_unit_entry_is_rejected_not_ignored(cfg: Path) -> None:
    campaign(cfg, lambda d: d["kinh_gui"][0].update(email="khac@daklak.example"))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "kinh_gui[0]")
    assert "email" in p.message


def test_named_body_with_an_address_is_an_extra_recipient(cfg: Path) -> None:
    campaign(cfg, lambda d: d["kinh_gui"].append({"name": "Bộ Nội vụ", "email": "vanthu@bnv.example"}))
    lc = load_campaign(cfg, CAMPAIGN)
    assert lc.kinh_gui[-1] == "Bộ Nội vụ"
    assert [r.email for r in lc.extra_recipients] == ["vanthu@bnv.example"]
    assert len(lc.addressees) == 36


# --- addresses and header-bound text ------------------------------------------------------------------


BAD_ADDRESSES = [
    "vanthu.snv",  # no '@'
    "a@b",  # no TLD
    "vanthu@daklak",  # no TLD
    "van thu@daklak.example",  # space
    "vanthu@dak lak.example",
    "@daklak.example",
    "vanthu@",
    "a@@daklak.example",
    "vanthu@daklak..example",
    "vanthu@-daklak.example",
    "vanthu@daklak.e",
    "vănthư@daklak.example",
    "vanthu@daklak.example\r\nBcc: x@evil.example",
    "vanthu@daklak.example\nBcc: x@evil.example",
    "vanthu\r@daklak.example",
]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_malformed_unit_address(cfg: Path, address: str) -> None:
    i = unit_index(cfg, "SNV")
    units(cfg, lambda d: d["units"][i].update(email=address))
    p = only_problem(cfg)
    assert_at(p, "units.yaml", f"units[{i}].email")
    assert "mail address" in p.message or "line break" in p.message


@pytest.mark.parametrize("address", ["a@b", "van thu@daklak.example", "x@daklak.example\r\nBcc: y@evil.example"])
def test_malformed_head_and_authority_addresses(cfg: Path, address: str) -> None:
    i = unit_index(cfg, "KPAC")
    units(cfg, lambda d: d["units"][i]["head"].update(email=address))
    authorities(cfg, lambda d: d["authorities"]["ubnd-daklak"].update(email=address))
    found = {(Path(p.file).name, p.field) for p in problems(cfg)}
    assert found == {("units.yaml", f"units[{i}].head.email"),
                     ("authorities.yaml", "authorities.ubnd-daklak.email")}


@pytest.mark.parametrize("address", ["vanthu.snv@daklak.example", "nguyen.van-a+cv@so.daklak.example",
                                     "X_Y@sub-domain.daklak.example"])
def test_valid_addresses(address: str) -> None:
    assert check_address(address) == address


def test_address_whitespace_around_is_trimmed(cfg: Path) -> None:
    i = unit_index(cfg, "SNV")
    units(cfg, lambda d: d["units"][i].update(email="  vanthu.snv@daklak.example "))
    lc = load_campaign(cfg, CAMPAIGN)
    assert next(a.unit.email for a in lc.addressees if a.unit.code == "SNV") == "vanthu.snv@daklak.example"


def _set_unit(code: str, *keys: str) -> Callable[[Path, str], tuple[str, str]]:
    def apply(cfg: Path, value: str) -> tuple[str, str]:
        i = unit_index(cfg, code)

        def change(d: Any) -> None:
            target = d["units"][i]
            for k in keys[:-1]:
                target = target[k]
            target[keys[-1]] = value
        units(cfg, change)
        return "units.yaml", f"units[{i}]." + ".".join(keys)
    return apply


def _set_authority(*keys: str) -> Callable[[Path, str], tuple[str, str]]:
    def apply(cfg: Path, value: str) -> tuple[str, str]:
        def change(d: Any) -> None:
            target = d["authorities"]["ubnd-daklak"]
            for k in keys[:-1]:
                target = target[k]
            target[keys[-1]] = value
        authorities(cfg, change)
        return "authorities.yaml", "authorities.ubnd-daklak." + ".".join(keys)
    return apply


def _set_summary(i: int) -> Callable[[Path, str], tuple[str, str]]:
    def apply(cfg: Path, value: str) -> tuple[str, str]:
        campaign(cfg, lambda d: d["summary"].__setitem__(i, value))
        return f"{CAMPAIGN}.yaml", f"summary[{i}]"
    return apply


def _set_named_recipient(cfg: Path, value: str) -> tuple[str, str]:
    campaign(cfg, lambda d: d["kinh_gui"].append({"name": value}))
    return f"{CAMPAIGN}.yaml", "kinh_gui[3].name"


HEADER_FIELDS = {
    "unit name": _set_unit("SNV", "name"),
    "head name": _set_unit("KPAC", "head", "name"),
    "head title": _set_unit("EAHLEO", "head", "title"),
    "authority name": _set_authority("name"),
    "signer name": _set_authority("signers", "chu-tich", "name"),
    "summary line 1": _set_summary(0),
    "summary line 2": _set_summary(1),
    "summary line 3": _set_summary(2),
    "named recipient": _set_named_recipient,
}


@pytest.mark.parametrize("where", HEADER_FIELDS)
@pytest.mark.parametrize("value", [EVIL, "Sở Nội vụ\nBcc: x@evil.example", "Sở Nội vụ\rX", "Sở Nội vụ\u2028X"],
                         ids=["CRLF", "LF", "CR", "LS"])
def test_line_break_in_a_header_bound_field(cfg: Path, where: str, value: str) -> None:
    file, field = HEADER_FIELDS[where](cfg, value)
    p = only_problem(cfg)
    assert_at(p, file, field)
    assert "line break" in p.message


def test_every_line_boundary_counts_as_a_header_break() -> None:
    boundaries = [chr(c) for c in range(0x10000) if len(f"a{chr(c)}b".splitlines()) > 1]
    assert len(boundaries) >= 10
    assert [c for c in boundaries if not has_header_break(f"a{c}b")] == []
    assert not has_header_break("Sở Tài nguyên & Môi trường\tEa H'leo")


def test_line_breaks_are_fine_in_the_body(cfg: Path) -> None:
    campaign(cfg, lambda d: d["body"].append("Dòng một\nDòng hai"))
    assert load_campaign(cfg, CAMPAIGN).campaign.body[-1] == "Dòng một\nDòng hai"


# --- the shape of each file ---------------------------------------------------------------------------


def test_yaml_duplicate_key_is_reported_with_its_line(cfg: Path) -> None:
    path = cfg / "units.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines, 1) if line == "  so-ban-nganh:\n")
    at = next(n for n, line in enumerate(lines, 1) if line == "  ubnd-huyen:\n")
    lines[at - 1:at - 1] = ["  so-ban-nganh:\n", "    label: Các sở, ban, ngành (2)\n"]
    path.write_text("".join(lines), encoding="utf-8")
    p = only_problem(cfg)
    assert_at(p, "units.yaml", "")
    assert (p.line, p.column) == (at, 3)
    assert "duplicate key 'so-ban-nganh'" in p.message and f"line {first}" in p.message


def test_yaml_duplicate_key_inside_a_unit(cfg: Path) -> None:
    path = cfg / "units.yaml"
    text = path.read_text(encoding="utf-8")
    old = "    email: vanthu.snv@daklak.example\n"
    path.write_text(text.replace(old, old + "    email: khac.snv@daklak.example\n"), encoding="utf-8")
    line = next(n for n, t in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if "khac.snv" in t)
    p = only_problem(cfg)
    assert_at(p, "units.yaml", "")
    assert p.line == line and p.column == 5
    assert "duplicate key 'email'" in p.message


def test_yaml_syntax_error_names_the_line(cfg: Path) -> None:
    path = cfg / "campaigns" / f"{CAMPAIGN}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    n = next(n for n, line in enumerate(lines, 1) if line.startswith("signer:"))
    lines[n - 1] = "signer: [chu-tich\n"
    path.write_text("".join(lines), encoding="utf-8")
    p = only_problem(cfg)
    assert Path(p.file).name == f"{CAMPAIGN}.yaml"
    assert p.field == "" and p.line is not None and p.column is not None
    assert f"line {n}" in str(p)  # where the unclosed '[' is, even if the parser noticed it later


def test_tab_indentation_names_the_line(cfg: Path) -> None:
    path = cfg / "units.yaml"
    text = path.read_text(encoding="utf-8").replace("  dan-cu:\n    label:", "  dan-cu:\n\tlabel:")
    path.write_text(text, encoding="utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith("\t"))
    p = only_problem(cfg)
    assert_at(p, "units.yaml", "")
    assert p.line == line and p.column == 1


def test_impossible_date_names_the_field(cfg: Path) -> None:
    path = cfg / "campaigns" / f"{CAMPAIGN}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("date: 2023-02-10", "date: 2023-02-30"),
                    encoding="utf-8")
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "date")


@pytest.mark.parametrize("name", ["authorities.yaml", "units.yaml"])
def test_missing_file(cfg: Path, name: str) -> None:
    (cfg / name).unlink()
    p = only_problem(cfg)
    assert_at(p, name, "")
    assert p.message == "file not found"


def test_missing_campaign_lists_the_known_ones(cfg: Path) -> None:
    p = only_problem(cfg, "par-index-2023")
    assert_at(p, "par-index-2023.yaml", "")
    assert "file not found" in p.message and "par-index-2022" in p.message


def test_empty_file(cfg: Path) -> None:
    (cfg / "units.yaml").write_text("# nothing yet\n", encoding="utf-8")
    p = only_problem(cfg)
    assert_at(p, "units.yaml", "")
    assert "mapping" in p.message


def test_unknown_field_suggests_the_right_one(cfg: Path) -> None:
    campaign(cfg, lambda d: d.update(tittle=d.pop("title")))
    found = {p.field: p.message for p in problems(cfg)}
    assert set(found) == {"tittle", "title"}
    assert "unknown field 'tittle'" in found["tittle"] and "'title'" in found["tittle"]
    assert "required" in found["title"]


def test_unknown_nested_field(cfg: Path) -> None:
    i = unit_index(cfg, "SNV")
    units(cfg, lambda d: d["units"][i]["head"].update(chuc_vu="Giám đốc"))
    p = only_problem(cfg)
    assert_at(p, "units.yaml", f"units[{i}].head.chuc_vu")
    assert "unknown field" in p.message and "title" in p.message  # lists what is allowed


def test_missing_required_field(cfg: Path) -> None:
    campaign(cfg, lambda d: d.pop("body"))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "body")
    assert "required" in p.message


def test_missing_required_nested_field(cfg: Path) -> None:
    i = unit_index(cfg, "SYT")
    units(cfg, lambda d: d["units"][i].pop("email"))
    p = only_problem(cfg)
    assert_at(p, "units.yaml", f"units[{i}].email")


@pytest.mark.parametrize("luu", ["KSTTHC, VT", "Văn thư, KSTTHC", "VTX, KSTTHC", "vt, KSTTHC"])
def test_luu_must_start_with_vt(cfg: Path, luu: str) -> None:
    campaign(cfg, lambda d: d.update(luu=luu))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", "luu")
    assert "VT" in p.message


@pytest.mark.parametrize("key", ["Han-Chot", "hạn_chót", "1st"])
def test_field_names_must_be_identifiers(cfg: Path, key: str) -> None:
    campaign(cfg, lambda d: d.update(fields={key: "x"}))
    p = only_problem(cfg)
    assert_at(p, f"{CAMPAIGN}.yaml", f"fields.{key}")


@pytest.mark.parametrize("name", ["../x", "..", "campaigns/../x", "/etc/passwd", "", ".hidden", "x/../../x"])
def test_campaign_name_with_path_traversal_is_rejected(cfg: Path, name: str) -> None:
    # A valid campaign where "../x" would lead, so only the name check can stop it.
    shutil.copy(cfg / "campaigns" / f"{CAMPAIGN}.yaml", cfg / "x.yaml")
    p = only_problem(cfg, name)
    assert "not a campaign name" in p.message


# --- everything at once --------------------------------------------------------------------------------


def test_several_problems_in_several_files_are_all_reported(cfg: Path) -> None:
    i, j = unit_index(cfg, "SNV"), unit_index(cfg, "KPAC")
    units(cfg, lambda d: (d["units"][i].update(email="vanthu.snv@daklak"), d["units"][j].update(code="snv")))
    authorities(cfg, lambda d: d["authorities"]["ubnd-daklak"].update(email="vanthu ubnd@daklak.example"))
    campaign(cfg, lambda d: (d.update(signer="chu-tich-x"), d["summary"].__setitem__(0, EVIL),
                             d["kinh_gui"].append({"group": "so-nganh"})))
    found = {(Path(p.file).name, p.field) for p in problems(cfg)}
    assert found == {
        ("units.yaml", f"units[{i}].email"),
        ("units.yaml", f"units[{j}].code"),
        ("authorities.yaml", "authorities.ubnd-daklak.email"),
        (f"{CAMPAIGN}.yaml", "signer"),
        (f"{CAMPAIGN}.yaml", "summary[0]"),
        (f"{CAMPAIGN}.yaml", "kinh_gui[3].group"),
    }


def test_config_error_message_counts_the_rest(cfg: Path) -> None:
    campaign(cfg, lambda d: d.update(signer="x", luu="KSTTHC"))
    with pytest.raises(ConfigError) as info:
        load_campaign(cfg, CAMPAIGN)
    assert len(info.value.problems) == 2
    assert str(info.value).endswith("(and 1 more problem(s))")
    assert "\n" not in str(info.value)


# --- the template against the config (validate_campaign) ------------------------------------------------


def _template_needing_han_chot(project: Path) -> None:
    src = project / "templates" / "cong_van.docx"
    dst = project / "templates" / "han_chot.docx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                assert text.count("Nơi nhận:") == 1
                data = text.replace("Nơi nhận:", "Nơi nhận: {{ han_chot }}").encode("utf-8")
            zout.writestr(info, data)
    campaign(project / "config", lambda d: d.update(template="han_chot.docx"))


def test_template_field_missing_from_config(project: Path) -> None:
    _template_needing_han_chot(project)
    with pytest.raises(ConfigError) as info:
        validate_campaign(project / "config", project / "templates", CAMPAIGN)
    (p,) = info.value.problems
    assert_at(p, f"{CAMPAIGN}.yaml", "fields")
    assert "han_chot" in p.message and "han_chot.docx" in p.message


def test_adding_the_field_fixes_it(project: Path) -> None:
    _template_needing_han_chot(project)
    campaign(project / "config", lambda d: d.update(fields={"han_chot": "trước ngày 20/02/2023"}))
    result = validate_campaign(project / "config", project / "templates", CAMPAIGN)
    assert "han_chot" in result.fields
    assert result.template.name == "han_chot.docx"
    assert result.summary().startswith(f"{CAMPAIGN}: OK: 36 units")


def test_the_shipped_template_needs_no_extra_field(project: Path) -> None:
    result = validate_campaign(project / "config", project / "templates", CAMPAIGN)
    assert "han_chot" not in result.fields
    assert {"so", "ky_hieu", "ngay_thang", "nguoi_ky"} <= result.fields


def test_a_field_congvan_sets_itself_is_rejected(project: Path) -> None:
    campaign(project / "config", lambda d: d.update(fields={"so": "123", "han_chot": "x"}))
    with pytest.raises(ConfigError) as info:
        validate_campaign(project / "config", project / "templates", CAMPAIGN)
    (p,) = info.value.problems
    assert_at(p, f"{CAMPAIGN}.yaml", "fields.so")


def test_missing_template_file(project: Path) -> None:
    campaign(project / "config", lambda d: d.update(template="khong_co.docx"))
    with pytest.raises(ConfigError) as info:
        validate_campaign(project / "config", project / "templates", CAMPAIGN)
    (p,) = info.value.problems
    assert_at(p, f"{CAMPAIGN}.yaml", "template")
    assert "not found" in p.message


@pytest.mark.parametrize("name", ["../cong_van.docx", "sub/cong_van.docx", "cong_van.txt"])
def test_template_name_must_stay_in_the_templates_folder(project: Path, name: str) -> None:
    campaign(project / "config", lambda d: d.update(template=name))
    with pytest.raises(ConfigError) as info:
        validate_campaign(project / "config", project / "templates", CAMPAIGN)
    assert [p.field for p in info.value.problems] == ["template"]
