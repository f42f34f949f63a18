"""The topology that messaging.py documents is the one it declares and the services use.

The module docstring is what operators read (and what the README repeats): a routing key listed
there that nothing declares or publishes, or a declared queue missing from it, is drift.
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway_common import messaging

SERVICES = Path(__file__).resolve().parents[2] / "services"
MESSAGING = Path(messaging.__file__).read_text()
# "      upload.received      -> gateway.router.uploads      (router)"
DOCUMENTED = re.compile(r"^\s+([a-z.<>]+)\s+->\s+([a-z.<>]+)\s+\(", re.M)


def _documented() -> dict[str, str]:
    assert messaging.__doc__ is not None
    return dict(DOCUMENTED.findall(messaging.__doc__))


def _constant(value: str, prefix: str) -> str:
    names = [name for name in dir(messaging) if name.startswith(prefix) and getattr(messaging, name) == value]
    assert names, f"{value!r} is documented but no {prefix}* constant holds it"
    return names[0]


def _used_outside_messaging(name: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return any(
        pattern.search(path.read_text())
        for path in SERVICES.rglob("*.py")
        if path.name != "messaging.py" and "proto" not in path.parts
    )


def test_every_documented_key_is_declared_and_published() -> None:
    documented = _documented()
    assert documented, "the topology docstring lists no routing keys"
    for key, queue in documented.items():
        if "<" in key:  # per-adapter and per-queue keys are made by a function
            function = {"dispatch.<adapter>": "dispatch_key", "parked.<queue>": "parked_key"}[key]
            assert _used_outside_messaging(function) or f"{function}(" in MESSAGING.split(f"def {function}", 1)[1]
            continue
        key_name = _constant(key, "RK_")
        queue_name = _constant(queue, "QUEUE_")
        assert re.search(rf"_declare\(\s*{queue_name},\s*{key_name}\b", MESSAGING), f"{queue} is not bound to {key}"
        assert _used_outside_messaging(key_name), f"nothing publishes {key}"


def test_every_declared_queue_is_documented() -> None:
    documented_queues = set(_documented().values())
    for name in dir(messaging):
        if name.startswith("QUEUE_"):
            assert getattr(messaging, name) in documented_queues, f"{name} is declared but not documented"
