"""The README's client table names the versions the interop suite really ran."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import aioftp
import pytest

from tests.e2e.interop.conftest import COMMONS_NET, REPO, TOOLS, Programs

pytestmark = pytest.mark.e2e


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _perl_version(module: str) -> str:
    return _run("perl", f"-M{module}", "-e", f"print ${module}::VERSION")


def _manifest_version(jar: Path) -> str:
    with zipfile.ZipFile(jar) as archive:
        manifest = archive.read("META-INF/MANIFEST.MF").decode()
    return re.findall(r"^Implementation-Version: (\S+)", manifest, re.MULTILINE)[0]


def installed() -> dict[str, str]:
    java = _run("javac", "-version").split()[1].split(".")[0]
    basic_ftp = json.loads((TOOLS / "node" / "node_modules" / "basic-ftp" / "package.json").read_text())
    return {
        "curl (OpenSSL)": _run("curl", "--version").split()[1],
        "lftp (GnuTLS)": _run("lftp", "--version").split("Version ")[1].split()[0],
        f"Apache Commons Net `FTPSClient` (Java {java})": _manifest_version(COMMONS_NET),
        "Perl `Net::FTP` with IO::Socket::SSL": f"{_perl_version('Net::FTP')} / {_perl_version('IO::Socket::SSL')}",
        "Node basic-ftp": basic_ftp["version"],
        "aioftp (Python, asyncio)": aioftp.__version__,
        "Python `ftplib.FTP_TLS` (stock: a fresh TLS handshake on every data connection)": (
            f"Python {sys.version_info.major}.{sys.version_info.minor}"
        ),
    }


def test_client_table_versions(programs: Programs) -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- interop-clients:begin -->")[1].split("<!-- interop-clients:end -->")[0]
    rows = [line.split(" | ") for line in table.strip().splitlines()[2:]]
    assert {row[0].removeprefix("| "): row[1] for row in rows} == installed()
