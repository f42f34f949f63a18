from typing import Literal, Self

from gateway_common.naming import STATUS_FILE_CODE_TEMPLATE, STATUS_FILE_TEMPLATE, Naming, template_parts
from gateway_common.settings import ServiceSettings
from pydantic import Field, ValidationInfo, field_validator, model_validator

from gateway_status.retention import DAY, Lifetimes
from gateway_status.tokens import BackendScope


class StatusSettings(ServiceSettings):
    http_port: int = Field(default=9103, description="Port of /metrics and probes.")
    status_file_naming: Literal["single", "per-code"] = Field(
        default="single",
        description=(
            "single: one status_<service>_<txid>.xml holding the latest status and its history; "
            "per-code: also status_<service>_<txid>~<code>.xml per status code."
        ),
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Status and outbound files in /out older than this are removed."
    )
    retention_interval: float = Field(
        default=3600.0, gt=0, description="Seconds between storage sweeps (every lifetime below, and usage metrics)."
    )
    payload_replay_days: float = Field(
        default=7.0,
        gt=0,
        description="Days a payload (and its responses) stays in the spool after its transaction's final status, "
        "for gateway-replay; payloads without a final status are never removed.",
    )
    ledger_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a transaction's status history is kept after its last update (once its payload is gone).",
    )
    txid_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a FTPTransactionID stays reserved (unique per tenant and service); "
        "at least GATEWAY_RETENTION_DAYS.",
    )
    idempotency_days: float = Field(
        default=90.0,
        gt=0,
        description="Days the outbound-file and responses APIs remember an Idempotency-Key: a retry with the "
        "same key within it changes nothing; after it the key is new.",
    )
    audit_days: float = Field(default=400.0, gt=0, description="Days the daily /out delete audit logs are kept.")
    temp_file_age: float = Field(
        default=86400.0,
        gt=0,
        description="Seconds after which temporary files of crashed writers (.tmp-*, uploads cut off) are removed.",
    )
    volume_interval: float = Field(
        default=30.0, gt=0, description="Seconds between measurements of the data volume's free space."
    )
    status_file_template: str = Field(
        default=STATUS_FILE_TEMPLATE,
        description="Name of the status file, <prefix>{service}_{txid}<suffix>: these shapes keep names unambiguous.",
    )
    status_file_code_template: str = Field(
        default=STATUS_FILE_CODE_TEMPLATE,
        description=(
            "Name of the per-code status files (naming per-code): the status file's prefix, "
            "then {service}_{txid}~{code}<suffix>."
        ),
    )

    @model_validator(mode="after")
    def _txids_outlive_status_files(self) -> Self:
        # A reused id while its old status file is still in /out would mix two transactions.
        if self.txid_days < self.retention_days:
            raise ValueError(
                f"GATEWAY_TXID_DAYS ({self.txid_days}) must be at least GATEWAY_RETENTION_DAYS ({self.retention_days})"
            )
        return self

    def lifetimes(self) -> Lifetimes:
        return Lifetimes(
            out=self.retention_days * DAY,
            payload=self.payload_replay_days * DAY,
            ledger=self.ledger_days * DAY,
            txid=self.txid_days * DAY,
            idempotency=self.idempotency_days * DAY,
            audit=self.audit_days * DAY,
            temp=self.temp_file_age,
        )

    @field_validator("status_file_template", "status_file_code_template")
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        # The shapes that keep every name unambiguous (see gateway_common.naming).
        template_parts(value, per_code=info.field_name == "status_file_code_template")
        return value

    @model_validator(mode="after")
    def _same_prefix(self) -> Self:
        self.naming()
        return self

    def naming(self) -> Naming:
        return Naming(self.status_file_template, self.status_file_code_template)

    outbound_tokens: dict[str, BackendScope] = Field(
        default_factory=dict,
        description=(
            "Backends allowed to use the API, as JSON {backend: {token_sha256, kinds, cvrs, names, services}}: "
            "the SHA-256 hex of its bearer token and its scope (recipient kinds personal/company, company CVRs "
            "(empty: any), outbound file name patterns, services whose transactions it may answer); "
            "empty lists allow nothing, and an empty map refuses everyone."
        ),
    )
    outbound_max_size: int = Field(default=100 * 1024 * 1024, ge=1, description="Largest outbound file (bytes).")
    outbound_quota_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=0,
        description=(
            "Outbound pushes are refused (507) while they would take a recipient's /out over this many bytes; "
            "keep it below the ingress's GATEWAY_OUT_QUOTA_BYTES so backends cannot block uploads."
        ),
    )

    @field_validator("outbound_tokens", mode="before")
    @classmethod
    def _scoped(cls, value: object) -> object:
        if isinstance(value, dict):
            for backend, entry in value.items():
                if isinstance(entry, str):
                    raise ValueError(
                        f"backend {backend!r}: give its token a scope, "
                        '{"token_sha256": "...", "kinds": [...], "cvrs": [...], "names": [...], "services": [...]}'
                    )
        return value

    support_tokens: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Support users of the read-only /support API, as JSON {name: sha256 hex of their bearer token}; "
            "empty: the API refuses everyone."
        ),
    )
