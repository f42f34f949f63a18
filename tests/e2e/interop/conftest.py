from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.clients import ClientCert

REPO = Path(__file__).resolve().parents[3]
CLIENTS = Path(__file__).parent / "clients"
TOOLS = Path(os.environ.get("INTEROP_TOOLS_DIR", REPO / ".tools" / "interop"))
COMMONS_NET = Path("/usr/share/java/commons-net.jar")


@dataclass(frozen=True)
class Programs:
    """The command lines of the client programs in clients/, ready for their arguments."""

    classes: Path

    def command(self, client: str, port: int, pki: Path, cert: ClientCert) -> list[str]:
        args = ["127.0.0.1", str(port), str(pki / "server-ca.pem"), str(cert.pem), str(cert.key)]
        if client == "commons-net":
            return ["java", "-cp", f"{COMMONS_NET}:{self.classes}", "FtpsScenario", *args]
        if client == "perl":
            return ["perl", str(CLIENTS / "scenario.pl"), *args]
        return ["node", str(CLIENTS / "scenario.mjs"), *args]

    @staticmethod
    def env() -> dict[str, str]:
        return os.environ | {"NODE_PATH": str(TOOLS / "node" / "node_modules")}


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Programs:
    """Install the clients (scripts/install-interop-clients.sh, idempotent) and compile the Java one."""
    subprocess.run([str(REPO / "scripts" / "install-interop-clients.sh")], check=True)
    classes = tmp_path_factory.mktemp("java")
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", str(COMMONS_NET), str(CLIENTS / "FtpsScenario.java")], check=True
    )
    return Programs(classes)
