from gateway_common.settings import ServiceSettings
from pydantic import Field


class RouterSettings(ServiceSettings):
    http_port: int = Field(default=9102, description="Port of /metrics and probes.")
