"""The configuration reference (``docs/config-reference.md``), generated from the pydantic models.

    python -m congvan.config_reference > docs/config-reference.md

It walks the models a coordinator writes in YAML (``config/authorities.yaml``, ``config/units.yaml``,
``config/campaigns/NAME.yaml``) from their root models down to every nested model, and the ``CONGVAN_*``
settings (:class:`congvan.settings.Settings`): for each field its name, its type in plain words, whether it
is required or what its default is, and its ``Field(description=...)``. ``tests/test_docs.py`` checks that the
committed file is exactly what :func:`render_reference` returns, so the reference follows the models.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from congvan import config
from congvan.settings import PREFIX, Settings
from congvan.signing import keyring

REGENERATE = "python -m congvan.config_reference > docs/config-reference.md"
OUTPUT = Path("docs") / "config-reference.md"

# The YAML files a coordinator writes, and the model each one is read into.
FILES: tuple[tuple[str, type[BaseModel]], ...] = (
    ("config/authorities.yaml", config.AuthoritiesFile),
    ("config/units.yaml", config.UnitsFile),
    ("config/campaigns/<tên chiến dịch>.yaml", config.Campaign),
    ("tệp khóa ký số (CONGVAN_SIGNING_KEYS)", keyring.Keyring),
)

# What each model is, in a line; a model missing here is introduced by the first line of its docstring.
TITLES: dict[str, str] = {
    "AuthoritiesFile": "Toàn bộ tệp: các cơ quan ban hành.",
    "Authority": "Một cơ quan ban hành (mục trong `authorities`).",
    "Signer": "Một người ký (mục trong `signers`).",
    "UnitsFile": "Toàn bộ tệp: các nhóm và các đơn vị nhận văn bản.",
    "Group": "Một nhóm đơn vị (mục trong `groups`).",
    "Unit": "Một đơn vị nhận văn bản (mục trong `units`).",
    "Head": "Người đứng đầu đơn vị (`head` của một đơn vị).",
    "Campaign": "Toàn bộ tệp chiến dịch: một công văn và việc theo dõi, đôn đốc sau đó.",
    "RecipientRef": "Một mục của “Kính gửi” (`kinh_gui`): ghi đúng một trong `unit`, `group`, `name`.",
    "NamedAddress": "Một nơi nhận có tên và địa chỉ thư (dùng trong `copies`, `cc`, `leadership`).",
    "FollowUp": "Phần theo dõi, đôn đốc của chiến dịch (`follow_up`).",
    "Columns": "Tiêu đề cột trong danh sách cán bộ và tệp kết quả khảo sát (`follow_up.columns`). Tiêu đề được so "
               "khớp không phân biệt chữ hoa, chữ thường và khoảng trắng thừa; tên tiếng Anh của trường (`staff_id`, "
               "`name`, `position`, `unit`, `email`, `completed_at`) luôn được chấp nhận.",
    "CalendarExtras": "Lịch riêng của chiến dịch (`follow_up.calendar`), bổ sung cho lịch nghỉ lễ quốc gia.",
    "LadderStep": "Một bước của thang đôn đốc (mục trong `follow_up.ladder`).",
    "Keyring": "Toàn bộ tệp khóa ký số: khóa của cơ quan theo mã cơ quan, khóa của người ký theo "
               "`mã cơ quan/mã người ký`. Đường dẫn tương đối tính từ thư mục chứa tệp này.",
    "Organisation": "Khóa ký số của cơ quan (mục trong `organisations`), do văn thư ký sau người có thẩm quyền: "
                    "ghi đúng một trong `pkcs12` (kèm `password`) và `pkcs11` (kèm `pin`).",
    "SignerKey": "Khóa ký số của người có thẩm quyền ký (mục trong `signers`): ghi đúng một trong `pkcs12` (kèm "
                 "`password`) và `pkcs11` (kèm `pin`).",
    "SecretRef": "Nơi lấy mật khẩu hoặc mã PIN (không ghi thẳng vào tệp): ghi đúng một trong `env`, `secret_block`.",
    "Pkcs11Ref": "Khóa trên token PKCS#11 (USB token, HSM, SoftHSM2).",
}

# Validators of congvan.config.values, by function name: what they ask of a value, in plain words. "type" replaces
# the plain type ("văn bản"), "note" is added after it.
_VALIDATOR_WORDS: dict[str, tuple[Literal["type", "note"], str]] = {
    "check_address": ("type", "địa chỉ thư điện tử"),
    "_code": ("type", "mã: chữ cái không dấu, chữ số, “-” hoặc “_”, tối đa 32 ký tự"),
    "_file_name": ("type", "tên tệp trong thư mục mẫu, không kèm thư mục"),
    "_non_empty": ("note", "không để trống"),
    "_header_safe": ("note", "một dòng"),
    "_strip_list_marks": ("note", "không cần gõ “-” đầu dòng, “;” hay “.” cuối dòng"),
    "_strip_luu": ("note", "không cần gõ “Lưu:”"),
    "_starts_with_vt": ("note", "bắt đầu bằng “VT”"),
    "_summary_lines": ("note", "một dòng đơn cũng được"),
    "_headers": ("note", "một tiêu đề đơn cũng được"),
}

_PLAIN: dict[Any, str] = {
    str: "văn bản",
    int: "số nguyên",
    float: "số",
    bool: "`true` hoặc `false`",
    dt.date: "ngày, dạng YYYY-MM-DD",
    Path: "đường dẫn",
    SecretStr: "văn bản bí mật",
}


def anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _link(model: type[BaseModel]) -> str:
    return f"[{model.__name__}](#{anchor(model)})"


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _words_of(validators: list[Any]) -> tuple[str | None, list[str]]:
    kind_type: str | None = None
    notes: list[str] = []
    for validator in validators:
        func = getattr(validator, "func", None)
        words = _VALIDATOR_WORDS.get(getattr(func, "__name__", ""))
        if words is None:
            continue
        if words[0] == "type":
            kind_type = words[1]
        elif words[1] not in notes:
            notes.append(words[1])
    return kind_type, notes


def _literal(values: tuple[Any, ...]) -> str:
    shown = [f"`{v}`" for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " hoặc " + shown[-1]


def type_words(tp: Any) -> str:
    """A type annotation in plain Vietnamese: ``list[Address]`` → "danh sách địa chỉ thư điện tử"."""
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *metadata = get_args(tp)
        replaced, notes = _words_of(metadata)
        base = replaced or type_words(inner)
        if not notes:
            return base
        return f"{base}; {', '.join(notes)}" if base.endswith(")") else f"{base} ({', '.join(notes)})"
    if origin is Literal:
        return _literal(get_args(tp))
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        return " hoặc ".join(type_words(a) for a in members)
    if origin is list:
        return "danh sách " + type_words(get_args(tp)[0])
    if origin is dict:
        return "bảng: mỗi mục một khóa tự đặt → " + type_words(get_args(tp)[1])
    if _is_model(tp):
        return _link(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _literal(tuple(m.value for m in tp))
    return _PLAIN.get(tp, getattr(tp, "__name__", str(tp)))


def _models_in(tp: Any) -> Iterator[type[BaseModel]]:
    """The models a type annotation mentions, in order."""
    if _is_model(tp):
        yield tp
        return
    for arg in get_args(tp):
        yield from _models_in(arg)


def _hints(model: type[BaseModel]) -> dict[str, Any]:
    """The fields' annotations as written (with Annotated metadata), in field order."""
    hints = get_type_hints(model, include_extras=True)
    return {name: hints[name] for name in model.model_fields}


def walk(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model nested in its fields, depth first, each once."""
    found: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.append(model)
        for tp in _hints(model).values():
            for nested in _models_in(tp):
                visit(nested)

    visit(root)
    return found


def config_models() -> list[type[BaseModel]]:
    """Every model of the YAML files, in the order of the reference."""
    models: list[type[BaseModel]] = []
    for _, root in FILES:
        models += [m for m in walk(root) if m not in models]
    return models


def _value(value: Any) -> str:
    """A default as a coordinator would write it in YAML (or in an environment variable)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _constraints(info: FieldInfo) -> list[str]:
    words: list[str] = []
    for item in info.metadata:
        if isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            words.append(f"ít nhất {item.min_length} mục")
        elif isinstance(item, annotated_types.Ge):
            words.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            words.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            words.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.Lt):
            words.append(f"< {item.lt}")
    return words


def default_text(info: FieldInfo) -> str | None:
    """The default as shown: None when the field is required, "" when it defaults to nothing."""
    if info.is_required():
        return None
    value = info.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return ""
    if isinstance(value, BaseModel):
        return f"như trong mục {_link(type(value))}"
    shown = _value(value)
    return f"`{shown}`" if shown else "để trống"


def required_words(info: FieldInfo) -> str:
    """ "**bắt buộc**", "không bắt buộc" or "mặc định `…`"."""
    default = default_text(info)
    if default is None:
        return "**bắt buộc**"
    return f"mặc định {default}" if default else "không bắt buộc"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _summary(model: type[BaseModel]) -> str:
    if model.__name__ in TITLES:
        return TITLES[model.__name__]
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def render_model(model: type[BaseModel]) -> list[str]:
    lines = [f'<a id="{anchor(model)}"></a>', "", f"### {model.__name__}", "", _summary(model), "",
             "| Trường | Kiểu | Bắt buộc / mặc định | Ý nghĩa |", "|---|---|---|---|"]
    for name, tp in _hints(model).items():
        info = model.model_fields[name]
        kind = type_words(tp)
        limits = _constraints(info)
        if limits:
            kind += f"; {', '.join(limits)}"
        lines.append(f"| `{name}` | {_cell(kind)} | {_cell(required_words(info))} | {_cell(info.description or '')} |")
    return [*lines, ""]


def env_name(field: str) -> str:
    return f"{PREFIX}{field}".upper()


def setting_names() -> list[str]:
    """Every environment variable the settings read: CONGVAN_CONFIG_DIR, …"""
    return [env_name(name) for name in Settings.model_fields]


def render_settings() -> list[str]:
    lines = ["## Biến môi trường (`CONGVAN_*`)", "",
             "Đặt trong môi trường của lệnh, hoặc trong tệp `.env` ở thư mục chạy lệnh, mỗi dòng một biến "
             "(`TÊN=giá trị`). Sai giá trị thì lệnh báo một dòng `Lỗi: CONGVAN_…: …` và dừng.", "",
             "| Biến | Kiểu | Mặc định | Ý nghĩa |", "|---|---|---|---|"]
    hints = _hints(Settings)
    for name, info in Settings.model_fields.items():
        kind = type_words(hints[name])
        limits = _constraints(info)
        if limits:
            kind += f"; {', '.join(limits)}"
        default = default_text(info)
        default = "**bắt buộc**" if default is None else default or "không đặt"
        lines.append(f"| `{env_name(name)}` | {_cell(kind)} | {_cell(default)} | "
                     f"{_cell(info.description or '')} |")
    return [*lines, ""]


def render_reference() -> str:
    """The whole reference as Markdown."""
    lines = [
        "# Tham chiếu cấu hình",
        "",
        f"<!-- Tệp này được sinh tự động từ congvan/config/models.py và congvan/settings.py: đừng sửa tay. "
        f"Sinh lại bằng lệnh: {REGENERATE} -->",
        "",
        "Mỗi bảng dưới đây là một phần của tệp cấu hình YAML: tên trường (viết đúng như trong bảng), kiểu giá trị, "
        "trường bắt buộc hay giá trị mặc định, và ý nghĩa. Văn bản được chuẩn hóa Unicode (NFC) và bỏ khoảng "
        "trắng thừa ở hai đầu. Cách dùng từng tệp: xem [Hướng dẫn sử dụng](huong-dan-su-dung.md).",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    for file, root in FILES:
        lines += [f"## Tệp `{file}`", ""]
        for model in walk(root):
            if model in seen:
                continue
            seen.add(model)
            lines += render_model(model)
    lines += render_settings()
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    """Print the reference as UTF-8 with "\\n" line ends, whatever the locale, so the redirect writes the same file."""
    sys.stdout.flush()
    sys.stdout.buffer.write(render_reference().encode("utf-8"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
