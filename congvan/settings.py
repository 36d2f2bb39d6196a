"""Runtime settings from the environment (``CONGVAN_*``) and an optional ``.env`` file (DESIGN §6)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONGVAN_", env_file=".env", extra="ignore")

    config_dir: Path = Path("config")
    output_dir: Path = Path("outputs")
    templates_dir: Path = Path("templates")
    database_url: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: str = "none"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.output_dir / 'congvan.db'}"
        return self


def load_settings() -> Settings:
    return Settings()
