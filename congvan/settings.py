"""Runtime settings from the environment (``CONGVAN_*``) and an optional ``.env`` file (docs/design.md §6).

Read the way pydantic-settings reads them (names in any case; values given to ``Settings(...)`` first, then the
environment, then ``.env`` in the working directory, then the defaults) without importing pydantic-settings,
which costs every command 25 ms of its 0.4 s (its providers for cloud secret stores import asyncio).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

PREFIX = "congvan_"
ENV_FILE = ".env"


def _prefixed(values: dict[str, str | None]) -> dict[str, str]:
    """The ``CONGVAN_*`` entries of ``values``, by lower-case name without the prefix."""
    return {name.lower()[len(PREFIX):]: value for name, value in values.items()
            if value is not None and name.lower().startswith(PREFIX)}


def environment_values(env_file: str | os.PathLike[str] | None = ENV_FILE) -> dict[str, str]:
    """The settings the environment gives, over those of ``env_file`` (when it exists), by field name."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values  # the parser pydantic-settings uses, only when there is a file

        values.update(_prefixed(dotenv_values(env_file, encoding="utf-8")))
    values.update(_prefixed(dict(os.environ)))
    return values


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_default=True)

    config_dir: Path = Field(default=Path("config"), description=(
        "Thư mục cấu hình: authorities.yaml, units.yaml, campaigns/, rosters/, responses/."))
    output_dir: Path = Field(default=Path("outputs"), description=(
        "Thư mục kết quả: văn bản đã ban hành (documents/), báo cáo (reports/), bản dự thảo (drafts/<chiến dịch>/; "
        "chạy thử: drafts/<chiến dịch>/chay-thu/), thư của mailcatcher (mailbox/) và cơ sở dữ liệu mặc định."))
    templates_dir: Path = Field(default=Path("templates"), description=(
        "Thư mục mẫu: các tệp .docx và mẫu nội dung thư điện tử (mail/)."))
    database_url: str = Field(default="", description=(
        "Cơ sở dữ liệu (sổ văn bản đi, sổ theo dõi gửi thư, danh sách cán bộ, kết quả trả lời). Để trống là tệp "
        "SQLite congvan.db trong CONGVAN_OUTPUT_DIR; PostgreSQL thì ghi "
        "postgresql+psycopg://người_dùng:mật_khẩu@máy_chủ/tên_csdl."))
    smtp_host: str = Field(default="127.0.0.1", description=(
        "Máy chủ thư gửi đi (SMTP). Mặc định là mailcatcher trên chính máy này (congvan mailcatcher): thư không ra "
        "ngoài."))
    smtp_port: int = Field(default=1025, description="Cổng của máy chủ thư: thường là 587 với starttls, 465 với ssl.")
    smtp_security: Literal["none", "ssl", "starttls"] = Field(default="none", description=(
        "Cách mã hóa kết nối: starttls, ssl, hoặc none (chỉ cho máy chủ thư trên chính máy này)."))
    smtp_user: str | None = Field(default=None, description=(
        "Tên đăng nhập máy chủ thư; đặt cùng CONGVAN_SMTP_PASSWORD, hoặc bỏ trống cả hai."))
    smtp_password: SecretStr | None = Field(default=None, description=(
        "Mật khẩu đăng nhập máy chủ thư; không bao giờ được in ra, ghi vào tệp kết quả hay cơ sở dữ liệu."))
    smtp_from: str | None = Field(default=None, description=(
        "Địa chỉ gửi đi; không đặt thì dùng email của cơ quan ban hành trong authorities.yaml. Tên người gửi luôn là "
        "tên cơ quan."))
    # Beyond the contract of docs/design.md §6: tuning and the escape hatches a test or a lab needs.
    smtp_ca_file: Path | None = Field(default=None, description=(
        "Tệp chứng thư gốc (PEM) để tin cậy máy chủ thư dùng chứng thư nội bộ hoặc tự cấp."))
    smtp_allow_plain_auth: bool = Field(default=False, description=(
        "Cho phép đăng nhập qua kết nối không mã hóa, và none với máy chủ ở máy khác: chỉ để thử nghiệm, không dùng "
        "khi gửi thật."))
    smtp_timeout: float = Field(default=30.0, gt=0, description="Số giây chờ máy chủ thư trả lời.")
    smtp_rate: float = Field(default=0.0, ge=0, description=(
        "Số thư tối đa mỗi giây; 0 là không giới hạn. Dùng khi máy chủ thư giới hạn tốc độ gửi."))
    smtp_batch_size: int = Field(default=50, ge=1, description=(
        "Số thư gửi trong một lần kết nối (và một tác vụ Prefect)."))
    smtp_attempts: int = Field(default=6, ge=1, description=(
        "Số lần thử mỗi thư trong một lần chạy khi gặp lỗi tạm thời (mã 4xx, mất kết nối)."))
    smtp_backoff: float = Field(default=5.0, ge=0, description=(
        "Số giây chờ trước lần thử thứ hai; sau đó mỗi lần gấp đôi."))

    # Delivery truth (docs/design.md §5.4): the reply mailbox where delivery reports and read receipts land.
    imap_host: str | None = Field(default=None, description=(
        "Máy chủ IMAP của hộp thư nhận thư báo lỗi gửi (bounce) và xác nhận đã đọc, thường là hộp thư của cơ quan "
        "gửi. Không đặt thì lần chạy hằng ngày không đọc hộp thư (congvan bounces import vẫn đọc tệp .eml)."))
    imap_port: int | None = Field(default=None, ge=1, le=65535, description=(
        "Cổng IMAP; không đặt thì 993 với ssl, 143 với starttls hoặc none."))
    imap_user: str | None = Field(default=None, description="Tên đăng nhập hộp thư IMAP.")
    imap_password: SecretStr | None = Field(default=None, description=(
        "Mật khẩu hộp thư IMAP; không bao giờ được in ra, ghi vào tệp kết quả hay cơ sở dữ liệu."))
    imap_security: Literal["none", "ssl", "starttls"] = Field(default="ssl", description=(
        "Cách mã hóa kết nối IMAP: ssl, starttls, hoặc none (chỉ cho máy chủ trên chính máy này)."))
    imap_folder: str = Field(default="INBOX", description=(
        "Thư mục IMAP chứa thư báo; thư đã đọc được gắn nhãn $CongvanRead để chỉ đọc một lần."))

    # Digital signatures (docs/design.md §4.5): who signs with which key, and whom verification trusts.
    signing_keys: Path | None = Field(default=None, description=(
        "Tệp YAML khai báo khóa ký số (keyring): chứng thư số của cơ quan (theo mã cơ quan, ví dụ ubnd-daklak) và "
        "của người ký (theo mã cơ quan/mã người ký, ví dụ ubnd-daklak/chu-tich), dạng tệp PKCS#12 hoặc token "
        "PKCS#11, cùng hình ảnh dấu và chữ ký (.png nền trong suốt). Mật khẩu và mã PIN lấy từ biến môi trường hoặc "
        "Prefect Secret block, không ghi trong tệp. Không đặt thì văn bản không được ký số."))
    trust_roots: Path | None = Field(default=None, description=(
        "Chứng thư gốc tin cậy (một tệp PEM hoặc thư mục các tệp .pem/.crt/.cer) để kiểm tra chữ ký số: khi ký "
        "(chuỗi chứng thư của người ký và cơ quan) và khi chạy congvan verify. Không đặt thì dùng trust_roots "
        "trong tệp khóa ký số."))
    tsa_url: str | None = Field(default=None, description=(
        "Địa chỉ máy chủ cấp dấu thời gian (RFC 3161, http hoặc https). Đặt thì chữ ký số theo PAdES B-T (có dấu "
        "thời gian), không đặt thì PAdES B-B (có thời gian ký)."))
    lang: Literal["vi", "en"] | None = Field(default=None, description=(
        "Ngôn ngữ của lệnh congvan (trợ giúp, bảng, trạng thái, thông báo lỗi): vi là tiếng Việt, en là tiếng "
        "Anh. Không đặt thì dùng tiếng Việt, trừ khi LANG, LC_ALL hoặc LANGUAGE bắt đầu bằng en. Chỉ đọc từ môi "
        "trường của lệnh, không đọc từ tệp .env. Kết quả --json không đổi theo ngôn ngữ."))

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = dict(data)
        env_file = given.pop("_env_file", ENV_FILE)  # None: no .env (the keyword pydantic-settings takes)
        known = {name: value for name, value in environment_values(env_file).items() if name in cls.model_fields}
        return {**known, **given}

    @field_validator("smtp_from")
    @classmethod
    def _plain_address(cls, value: str | None) -> str | None:
        # It goes into the From header and the SMTP envelope: one plain address, nothing smuggled in.
        from congvan.config import check_address

        return None if value is None or not value.strip() else check_address(value.strip())

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.output_dir / 'congvan.db'}"
        return self


def load_settings() -> Settings:
    return Settings()
