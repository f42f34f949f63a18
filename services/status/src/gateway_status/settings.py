from typing import Literal

from gateway_common.settings import ServiceSettings
from pydantic import Field


class StatusSettings(ServiceSettings):
    http_port: int = Field(default=9103, description="Port of /metrics and probes.")
    status_file_naming: Literal["single", "per-code"] = Field(
        default="single",
        description=(
            "single: one status_<service>_<txid>.xml holding the latest status and its history; "
            "per-code: also status_<service>_<txid>_<code>.xml per status code."
        ),
    )
    outbound_tokens: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Backends allowed to push outbound files, as JSON {backend: sha256 hex of its bearer token}; "
            "empty: the outbound API refuses everyone."
        ),
    )
    outbound_max_size: int = Field(default=100 * 1024 * 1024, ge=1, description="Largest outbound file (bytes).")
