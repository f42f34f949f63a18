from typing import Literal, Self

from gateway_common.naming import STATUS_FILE_CODE_TEMPLATE, STATUS_FILE_TEMPLATE, Naming, template_parts
from gateway_common.settings import ServiceSettings
from pydantic import Field, ValidationInfo, field_validator, model_validator


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

    outbound_tokens: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Backends allowed to push outbound files, as JSON {backend: sha256 hex of its bearer token}; "
            "empty: the outbound API refuses everyone."
        ),
    )
    outbound_max_size: int = Field(default=100 * 1024 * 1024, ge=1, description="Largest outbound file (bytes).")
