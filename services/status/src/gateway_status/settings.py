from typing import Literal

from gateway_common.settings import ServiceSettings
from pydantic import Field, ValidationInfo, field_validator

from gateway_status.writer import STATUS_FILE_CODE_TEMPLATE, STATUS_FILE_TEMPLATE


class StatusSettings(ServiceSettings):
    http_port: int = Field(default=9103, description="Port of /metrics and probes.")
    status_file_naming: Literal["single", "per-code"] = Field(
        default="single",
        description=(
            "single: one status_<service>_<txid>.xml holding the latest status and its history; "
            "per-code: also status_<service>_<txid>_<code>.xml per status code."
        ),
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Status and outbound files in /out older than this are removed."
    )
    retention_interval: float = Field(default=3600.0, gt=0, description="Seconds between retention sweeps.")
    status_file_template: str = Field(
        default=STATUS_FILE_TEMPLATE, description="Name of the status file; fields {service} and {txid}."
    )
    status_file_code_template: str = Field(
        default=STATUS_FILE_CODE_TEMPLATE,
        description="Name of the per-code status files (naming per-code); fields {service}, {txid} and {code}.",
    )

    @field_validator("status_file_template", "status_file_code_template")
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        # Both names must stay unique per transaction and end up as a plain file name in /out.
        try:
            sample = value.format(service="s", txid="t", code=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"status file template {value!r}: only {{service}}, {{txid}}, {{code}}") from exc
        if "{service}" not in value or "{txid}" not in value or "/" in sample or sample.startswith("."):
            raise ValueError(f"status file template {value!r} must hold {{service}} and {{txid}} and name a file")
        if info.field_name == "status_file_code_template" and "{code}" not in value:
            raise ValueError(f"status file template {value!r} must hold {{code}}")
        return value

    outbound_tokens: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Backends allowed to push outbound files, as JSON {backend: sha256 hex of its bearer token}; "
            "empty: the outbound API refuses everyone."
        ),
    )
    outbound_max_size: int = Field(default=100 * 1024 * 1024, ge=1, description="Largest outbound file (bytes).")
    support_tokens: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Support users of the read-only /support API, as JSON {name: sha256 hex of their bearer token}; "
            "empty: the API refuses everyone."
        ),
    )
