"""Runtime settings from the environment (``CONGVAN_*``) and an optional ``.env`` file (DESIGN §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONGVAN_", env_file=".env", extra="ignore")

    config_dir: Path = Path("config")
    output_dir: Path = Path("outputs")
    templates_dir: Path = Path("templates")
    database_url: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: Literal["none", "ssl", "starttls"] = "none"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    # Beyond the contract of DESIGN §6: tuning and the escape hatches a test or a lab needs.
    smtp_ca_file: Path | None = None  # trust this CA (PEM) instead of the system's, e.g. a self-signed test server
    smtp_allow_plain_auth: bool = False  # AUTH over an unencrypted link: never in production
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_rate: float = Field(default=0.0, ge=0)  # messages per second; 0 = as fast as the server takes them
    smtp_batch_size: int = Field(default=50, ge=1)  # messages per connection (and per Prefect task)
    smtp_attempts: int = Field(default=4, ge=1)  # tries per message within one run, with backoff
    smtp_backoff: float = Field(default=2.0, ge=0)  # seconds before the 2nd try; doubles after

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.output_dir / 'congvan.db'}"
        return self


def load_settings() -> Settings:
    return Settings()
