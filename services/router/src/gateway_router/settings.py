from pydantic import Field

from gateway_common.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    http_port: int = Field(default=9102, description="Port of /metrics and probes.")
