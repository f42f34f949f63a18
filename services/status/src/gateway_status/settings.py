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
    retention_days: float = Field(
        default=30.0, gt=0, description="Status and outbound files in /out older than this are removed."
    )
    retention_interval: float = Field(default=3600.0, gt=0, description="Seconds between retention sweeps.")
