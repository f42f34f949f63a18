from typing import Literal, Self

from gateway_common.naming import STATUS_FILE_CODE_TEMPLATE, STATUS_FILE_TEMPLATE, Naming, template_parts
from gateway_common.settings import ServiceSettings
from pydantic import Field, ValidationInfo, field_validator, model_validator

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
    retention_interval: float = Field(default=3600.0, gt=0, description="Seconds between retention sweeps.")
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
