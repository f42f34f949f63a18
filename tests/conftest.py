"""Every test runs as the local demo does: the machine's RabbitMQ with its default account."""

import os

os.environ.setdefault("GATEWAY_DEMO", "true")
