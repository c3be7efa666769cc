"""Settings of one gateway process: one immutable object, read once.

Values come from a TOML file and from ``EDOC_`` environment variables, the environment
winning; nested keys use ``__`` (``EDOC_AMQP__URL``, ``EDOC_STORE__URL``). This is the only
module that reads the environment. ``config/gateway.example.toml`` documents every key.
Relative paths are taken as written (relative to the working directory of the process).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

POLICIES = ("strict", "legacy", "off")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListenSettings(_Section):
    """Where the HTTP service listens."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class NodeSettings(_Section):
    """Identity of this node: its agency code and the key/certificate it signs with."""

    code: str = "000.00.00.G22"
    name: str = "edoc-gateway"
    key_file: Path = Path("var/dev/node.key")
    cert_file: Path = Path("var/dev/node.crt")
    algorithm: str = "rsa-sha256"
    # Encrypted PEM key: the password from a file, or from EDOC_NODE__KEY_PASSWORD.
    key_password_file: Path | None = None
    key_password: SecretStr | None = None
    # Key in a PKCS#11 token (RFC 7512 URI, e.g. "pkcs11:token=edoc-node;object=node-key"):
    # when set, key_file is not used; the user PIN from a file or EDOC_NODE__PKCS11_PIN.
    pkcs11_uri: str | None = None
    pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    pkcs11_pin_file: Path | None = None
    pkcs11_pin: SecretStr | None = None


class StoreSettings(_Section):
    """Database URL (SQLite by default, PostgreSQL by URL) and the blob directory."""

    url: str = "sqlite:///var/edoc/gateway.db"
    blob_dir: Path = Path("var/edoc/blobs")
    # Where packet bytes live: "file" (blob_dir), "database" (the store's own database; the
    # default on PostgreSQL) or "s3://bucket/prefix?endpoint_url=…&region=…".
    blob_url: str | None = None


class AmqpSettings(_Section):
    """RabbitMQ connection, consumer prefetch and the retry ladder (seconds)."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    prefetch: int = Field(50, ge=1, le=1000)
    retry_ladder: tuple[float, ...] = (5, 30, 120, 600, 3600, 21600)
    outbox_interval_s: float = Field(30.0, gt=0)
    outbox_older_than_s: float = Field(10.0, ge=0)
    # Namespace of this node's exchanges and queues (None: the node code), so that nodes
    # sharing one broker and virtual host never take each other's tasks.
    prefix: str | None = Field(default=None, max_length=100)
    # Work queues per delivery lane: a task goes to the shard of its sending calling system,
    # so one system's flood fills one shard while the others keep flowing (1: no shards).
    delivery_shards: int = Field(4, ge=1, le=64)

    def topology_prefix(self, node_code: str) -> str:
        """The prefix of this node's topology: ``prefix``, else ``node_code``."""
        return node_code if self.prefix is None else self.prefix


class TrustSettings(_Section):
    """Trust anchors (PEM files) for packet signatures."""

    anchors: tuple[Path, ...] = ()
    # Anchors for signatures inside PDF attachments (e.g. Ban Cơ yếu Chính phủ roots).
    document_anchors: tuple[Path, ...] = ()
    # OCSP/CRL for packet and PDF signers: off, soft (unknown reported), hard (unknown refused).
    revocation: Literal["off", "soft", "hard"] = "soft"
    revocation_timeout_s: float = Field(5.0, gt=0)


class LimitsSettings(_Section):
    """Request limits and the authentication windows."""

    max_packet_bytes: int = Field(150 * 2**20, ge=1024)
    clock_skew_s: int = Field(300, ge=1)
    replay_window_s: int = Field(600, ge=1)
    token_ttl_s: int = Field(3600, ge=60)
    inbox_max_limit: int = Field(500, ge=1)
    # A request body must arrive within this time once its headers are in (slow senders).
    read_timeout_s: float = Field(30.0, gt=0)


class SystemSettings(_Section):
    """One calling system (QLVB): id, shared secret, agencies it speaks for, policy."""

    id: str = Field(min_length=1, max_length=100)
    secret: SecretStr
    agencies: tuple[str, ...] = ()
    policy: str = "legacy"
    # Authentication profile on the VXP door: "sdk" survives the axis SDK's frozen timestamp
    # and replays (every VXP operation is idempotent), "strict" keeps skew + replay cache.
    profile: Literal["strict", "sdk"] = "sdk"
    # CIDR allow-list of caller addresses; empty means any address.
    allowed_networks: tuple[str, ...] = ()
    # PDF attachment signatures: "report" accepts and reports, "require" refuses unsigned.
    pdf_signatures: Literal["report", "require"] = "report"
    # Packet signer bound to the sending agency.
    signer_binding: Literal["off", "warn", "require"] = "off"

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
        return value


class DirectorySettings(_Section):
    """Agency directory: a CSV/JSON file, a sync URL, or inline agency records."""

    file: Path | None = None
    url: str | None = None
    agencies: tuple[dict[str, Any], ...] = ()


class UpstreamSettings(_Section):
    """One upstream axis (the national axis or a hub) reached over VXP: deliveries to
    agencies whose endpoint is ``peer`` with ``node`` = ``name`` are forwarded there, and the
    node polls it for documents addressed to its own agencies."""

    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    system_id: str = Field(min_length=1)
    secret: SecretStr
    poll_interval_s: float = Field(10.0, gt=0)
    policy: str = "legacy"
    extra_agencies: tuple[str, ...] = ()


class ScanSettings(_Section):
    """Malware scanning with clamd: ``tcp://host:port`` or ``unix:///path``; none: no scan."""

    clamd: str | None = None
    on_error: Literal["refuse", "accept"] = "refuse"
    timeout_s: float = Field(30.0, gt=0)


class AdminSettings(_Section):
    """Bearer tokens accepted by the admin API."""

    tokens: tuple[SecretStr, ...] = ()


class HubSettings(_Section):
    """The provincial-hub doors (Bkav eDoc SOAP and its REST v2) and an LGSP in front of them.

    ``lgsp_trust_jwt`` trusts a WSO2 API Manager's ``X-JWT-Assertion`` verified with the
    certificate ``lgsp_certificate``; ``lgsp_applications`` maps the APIM application (claim
    ``lgsp_claim``) to a calling system id; ``lgsp_required`` refuses calls without one.
    """

    soap_path: str = Field("/services/eDoc", pattern=r"^/[\w./-]*[\w-]$")
    rest_path: str = Field("/EdocService", pattern=r"^/[\w./-]*[\w-]$")
    lgsp_trust_jwt: bool = False
    lgsp_certificate: Path | None = None
    lgsp_claim: str = "http://wso2.org/claims/applicationname"
    lgsp_issuer: str | None = None
    lgsp_required: bool = False
    lgsp_applications: dict[str, str] = {}

    @model_validator(mode="after")
    def _lgsp_certificate_given(self) -> HubSettings:
        if self.lgsp_trust_jwt and (
            self.lgsp_certificate is None or not self.lgsp_certificate.is_file()
        ):
            raise ValueError("lgsp_trust_jwt needs lgsp_certificate: the APIM's PEM certificate")
        return self


class CredentialsSettings(_Section):
    """Calling-system credentials in the store: the key that encrypts their secrets, the
    default rotation overlap and how often running processes look for changes."""

    # A file holding the key (urlsafe base64 of 32 bytes; more lines = older keys that still
    # decrypt). Env EDOC_CREDENTIALS_KEY (or EDOC_CREDENTIALS__KEY) gives the key itself.
    # Neither set: <store.blob_dir>/../credentials.key, created on first use.
    key_file: Path | None = None
    key: SecretStr | None = None
    overlap_days: float = Field(7.0, ge=0)
    refresh_interval_s: float = Field(1.0, gt=0, le=60)

    def key_path(self, store: StoreSettings) -> Path:
        """The key file used when no key is given in the environment."""
        return self.key_file or store.blob_dir.parent / "credentials.key"

    def key_text(self) -> str | None:
        """The key given in the configuration or the environment (``None``: use the file)."""
        if self.key is not None:
            return self.key.get_secret_value()
        return os.environ.get("EDOC_CREDENTIALS_KEY") or None


class DutiesSettings(_Section):
    """Scheduled duties run by one process of the cluster each interval (seconds)."""

    enabled: bool = True
    directory_sync_interval_s: float = Field(6 * 3600.0, gt=0)
    inactivity_interval_s: float = Field(3600.0, gt=0)
    certificates_interval_s: float = Field(6 * 3600.0, gt=0)
    audit_verify_interval_s: float = Field(86400.0, gt=0)
    # Inactivity rule (004 art. 8-9): suspend a system after this many months without
    # sending or fetching, revoke it this many days after the suspension.
    inactivity_months: int = Field(6, ge=1)
    revoke_after_days: int = Field(15, ge=1)


class AdmissionSettings(_Section):
    """Admission control at intake (``gateway.core.admission``): documents in flight per process
    and per calling system (0: no bound), the ``Retry-After`` of a refusal, and the size
    from which a packet is checked on the large-packet lane."""

    max_in_flight: int = Field(default=128, ge=0)
    per_system: int = Field(default=64, ge=0)
    retry_after_s: int = Field(default=1, ge=1)
    large_packet_bytes: int = Field(default=4 * 2**20, ge=1024)
    urgent_reserve: int = Field(default=16, ge=0)


class Settings(BaseSettings):
    """The whole configuration of a gateway process (immutable)."""

    model_config = SettingsConfigDict(
        env_prefix="EDOC_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    listen: ListenSettings = ListenSettings()
    node: NodeSettings = NodeSettings()
    store: StoreSettings = StoreSettings()
    amqp: AmqpSettings = AmqpSettings()
    trust: TrustSettings = TrustSettings()
    limits: LimitsSettings = LimitsSettings()
    calendar_file: Path = Path("config/calendar.toml")
    systems: tuple[SystemSettings, ...] = ()
    directory: DirectorySettings = DirectorySettings()
    admin: AdminSettings = AdminSettings()
    upstream: UpstreamSettings | None = None
    log_level: str = "info"
    hub: HubSettings = HubSettings()
    scan: ScanSettings = ScanSettings()
    admission: AdmissionSettings = AdmissionSettings()
    credentials: CredentialsSettings = CredentialsSettings()
    duties: DutiesSettings = DutiesSettings()

    @field_validator("systems")
    @classmethod
    def _unique_systems(cls, value: tuple[SystemSettings, ...]) -> tuple[SystemSettings, ...]:
        ids = [s.id for s in value]
        if len(ids) != len(set(ids)):
            raise ValueError("system ids must be unique")
        return value

    def system(self, system_id: str) -> SystemSettings | None:
        """Return the configured system with this id, or ``None``.

        The TOML systems only seed the store on its first start: running code looks systems
        up through the registry (``gateway.credentials.registry.CallingSystems``), never here."""
        return next((s for s in self.systems if s.id == system_id), None)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the settings from the TOML file ``path`` (optional) and ``EDOC_`` variables.

    Keyword ``overrides`` win over both (used by tests and the demo).
    """
    toml_path = Path(path) if path is not None else None
    if toml_path is not None and not toml_path.is_file():
        raise FileNotFoundError(f"configuration file not found: {toml_path}")

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if toml_path is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
            return tuple(sources)

    loaded = _FromFile(**overrides)
    return Settings.model_construct(
        **{name: getattr(loaded, name) for name in Settings.model_fields}
    )
