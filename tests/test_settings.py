"""CONGVAN_* settings: read as pydantic-settings read them (docs/design.md §6), without importing it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from congvan.settings import Settings, load_settings


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory without .env and an environment without CONGVAN_* variables."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("CONGVAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_and_the_database_beside_the_outputs(clean: Path) -> None:
    settings = load_settings()
    assert settings.config_dir == Path("config")
    assert settings.smtp_port == 1025
    assert settings.database_url == f"sqlite:///{Path('outputs') / 'congvan.db'}"


def test_the_environment_in_any_case_is_read_and_typed(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGVAN_SMTP_PORT", "587")
    monkeypatch.setenv("congvan_smtp_security", "starttls")
    monkeypatch.setenv("CONGVAN_OUTPUT_DIR", "/srv/Sở Tài nguyên & Môi trường")
    monkeypatch.setenv("CONGVAN_SMTP_PASSWORD", "mật-khẩu")
    monkeypatch.setenv("CONGVAN_NOT_A_SETTING", "x")  # ignored, as before
    settings = load_settings()
    assert (settings.smtp_port, settings.smtp_security) == (587, "starttls")
    assert settings.output_dir == Path("/srv/Sở Tài nguyên & Môi trường")
    assert settings.smtp_password is not None and settings.smtp_password.get_secret_value() == "mật-khẩu"
    assert "mật-khẩu" not in repr(settings)
    assert settings.database_url == "sqlite:////srv/Sở Tài nguyên & Môi trường/congvan.db"


def test_dot_env_is_read_and_the_environment_wins(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / ".env").write_text(
        "# the coordinator's machine\n"
        "export CONGVAN_SMTP_HOST=mail.daklak.gov.vn\n"
        "CONGVAN_SMTP_FROM='vanthu.snv@daklak.gov.vn'\n"
        'CONGVAN_TEMPLATES_DIR="mẫu/Krông Pắc"\n'
        "CONGVAN_SMTP_PORT=465\n"
        "OTHER_TOOL_SETTING=1\n", encoding="utf-8")
    monkeypatch.setenv("CONGVAN_SMTP_PORT", "2525")
    settings = load_settings()
    assert settings.smtp_host == "mail.daklak.gov.vn"
    assert settings.smtp_from == "vanthu.snv@daklak.gov.vn"
    assert settings.templates_dir == Path("mẫu/Krông Pắc")
    assert settings.smtp_port == 2525
    assert Settings(_env_file=None).smtp_host == "127.0.0.1"  # type: ignore[call-arg]


def test_values_given_in_code_win_and_the_rest_still_comes_from_the_environment(
        clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGVAN_OUTPUT_DIR", "/env/out")
    monkeypatch.setenv("CONGVAN_SMTP_HOST", "smtp.example")
    settings = Settings(output_dir=Path("/given"))
    assert settings.output_dir == Path("/given")
    assert settings.smtp_host == "smtp.example"


def test_a_bad_value_names_its_field(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / ".env").write_text("CONGVAN_SMTP_SECURITY=tls\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        load_settings()
    assert [e["loc"] for e in info.value.errors()] == [("smtp_security",)]
