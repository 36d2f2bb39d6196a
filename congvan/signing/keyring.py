"""The keyring: which key signs for which organisation and signer (``CONGVAN_SIGNING_KEYS``, a YAML file).

    trust_roots: root.pem                  # optional; CONGVAN_TRUST_ROOTS wins
    organisations:
      ubnd-daklak:                         # an authority key of config/authorities.yaml
        pkcs12: ubnd-daklak.p12
        password: {env: CONGVAN_KEY_UBND}  # or {secret_block: ubnd-daklak-p12} (a Prefect Secret block)
        seal: seal.png                     # red, transparent PNG
        seal_diameter_mm: 38               # the seal's real size (36–40 mm for a provincial committee)
    signers:
      ubnd-daklak/chu-tich:                # authority/signer
        pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, token: CHU-TICH, key: sign, cert: sign}
        pin: {env: CONGVAN_PIN_CHU_TICH}
        signature: chu-tich.png            # blue, transparent PNG

Relative paths are relative to the keyring file. Secrets are never in the file: a password or PIN names an
environment variable or a Prefect Secret block, read only when the key is opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from congvan.errors import ConfigError, Problem, SigningError
from congvan.i18n import _


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Model):
    """Where a password or PIN comes from: exactly one of `env`, `secret_block`."""

    env: str | None = Field(default=None, description="Tên biến môi trường chứa mật khẩu hoặc mã PIN.")
    secret_block: str | None = Field(default=None, description="Tên Prefect Secret block chứa mật khẩu hoặc mã PIN.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.secret_block is None):
            raise ValueError("give exactly one of env, secret_block")
        return self

    def describe(self) -> str:
        return (_("environment variable {name}").format(name=self.env) if self.env else
                _("Prefect Secret block {name!r}").format(name=self.secret_block))

    def reveal(self, subject: str) -> str:
        """The secret itself. Never put it in a message or a log line."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SigningError(_("the password/PIN is not set ({where} is unset)").format(where=self.describe()),
                                   subject=subject)
            return value
        assert self.secret_block is not None
        try:  # Prefect only where a Secret block is used: congvan's signing otherwise works without a Prefect API
            from prefect.blocks.system import Secret

            secret: Any = Secret.load(self.secret_block)
            block_value: Any = secret.get()
        except Exception as exc:  # the block API raises many kinds; the message names the block, never a value
            raise SigningError(_("cannot read {where}: {error}").format(where=self.describe(),
                                                                        error=type(exc).__name__),
                               subject=subject) from None
        return str(block_value)


class Pkcs11Ref(_Model):
    """A key on a PKCS#11 token (USB token, HSM, SoftHSM2)."""

    module: Path = Field(description="Thư viện PKCS#11 của token, ví dụ /usr/lib/softhsm/libsofthsm2.so.")
    token: str = Field(description="Nhãn (label) của token.")
    key: str = Field(description="Nhãn của khóa bí mật trên token.")
    cert: str = Field(description=(
        "Nhãn của chứng thư số trên token, hoặc đường dẫn tệp chứng thư (.pem/.der/.crt) khi token không lưu "
        "chứng thư."))


class Identity(_Model):
    """A key with its certificate: exactly one of `pkcs12` (with `password`) and `pkcs11` (with `pin`)."""

    pkcs12: Path | None = Field(default=None, description="Tệp PKCS#12 (.p12/.pfx) chứa khóa và chứng thư số.")
    password: SecretRef | None = Field(default=None, description="Mật khẩu của tệp PKCS#12.")
    pkcs11: Pkcs11Ref | None = Field(default=None, description="Khóa trên token PKCS#11.")
    pin: SecretRef | None = Field(default=None, description="Mã PIN người dùng của token.")

    @model_validator(mode="after")
    def _one_kind(self) -> Identity:
        if (self.pkcs12 is None) == (self.pkcs11 is None):
            raise ValueError("give exactly one of pkcs12, pkcs11")
        if self.pkcs12 is not None and (self.password is None or self.pin is not None):
            raise ValueError("a pkcs12 key takes a password (and no pin)")
        if self.pkcs11 is not None and (self.pin is None or self.password is not None):
            raise ValueError("a pkcs11 key takes a pin (and no password)")
        return self


class Organisation(Identity):
    """The organisation's key (applied by the records office), and its seal."""

    seal: Path = Field(description="Hình ảnh dấu của cơ quan: màu đỏ, .png nền trong suốt.")
    seal_diameter_mm: float = Field(default=38.0, ge=10, le=80, description=(
        "Đường kính thực của dấu (mm), để hình dấu đúng kích thước thật: 36–40 mm với dấu của UBND cấp tỉnh."))


class SignerKey(Identity):
    """A competent person's key, and the image of their handwritten signature."""

    signature: Path = Field(description="Hình ảnh chữ ký của người ký: màu xanh, .png nền trong suốt.")


class Keyring(_Model):
    """The whole file: organisations by authority key, signers by `authority/signer`."""

    trust_roots: Path | None = Field(default=None, description=(
        "Chứng thư gốc tin cậy (tệp PEM hoặc thư mục); CONGVAN_TRUST_ROOTS được ưu tiên."))
    organisations: dict[Annotated[str, Field(min_length=1)], Organisation] = Field(default_factory=dict, description=(
        "Khóa của từng cơ quan, theo mã cơ quan trong authorities.yaml (ví dụ ubnd-daklak)."))
    signers: dict[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")], SignerKey] = Field(
        default_factory=dict, description=(
            "Khóa của từng người ký, theo mã cơ quan/mã người ký trong authorities.yaml (ví dụ ubnd-daklak/chu-tich)."))


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def _resolved_identity(ident: Identity, base: Path) -> dict[str, object]:
    data: dict[str, object] = {"pkcs12": _resolve(ident.pkcs12, base)}
    if ident.pkcs11 is not None:
        cert = ident.pkcs11.cert
        # a cert "label" that names an existing file (or looks like one) is a file relative to the keyring
        looks_like_file = cert.lower().endswith((".pem", ".der", ".crt", ".cer")) or "/" in cert
        if looks_like_file:
            cert = str(_resolve(Path(cert), base))
        data["pkcs11"] = ident.pkcs11.model_copy(update={"module": _resolve(ident.pkcs11.module, base),
                                                         "cert": cert})
    return data


def load_keyring(path: Path) -> Keyring:
    """The keyring file, validated, with every relative path made relative to the file. ``ConfigError`` lists
    every problem found."""
    from congvan.config.messages import _parse
    from congvan.config.yaml_reader import _read_yaml

    problems: list[Problem] = []
    shown = str(path)
    data = _read_yaml(path, shown, problems)
    ring = _parse(Keyring, data, shown, problems)
    if ring is None:
        raise ConfigError(problems or [Problem(shown, "", _("empty keyring"))])
    base = path.resolve().parent
    orgs = {k: v.model_copy(update={**_resolved_identity(v, base), "seal": _resolve(v.seal, base)})
            for k, v in ring.organisations.items()}
    signers = {k: v.model_copy(update={**_resolved_identity(v, base), "signature": _resolve(v.signature, base)})
               for k, v in ring.signers.items()}
    return ring.model_copy(update={"trust_roots": _resolve(ring.trust_roots, base), "organisations": orgs,
                                   "signers": signers})
