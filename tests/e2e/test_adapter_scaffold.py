"""A backend team's path, rehearsed: `make adapter NAME=...` in a clean copy of the repository
scaffolds a package whose test passes, the only files that change are the package folder and
generated ones, the router checks the new adapter's options, and an upload reaches it end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.broker import private_vhost
from tests.support.clients import ClientCert, curl, wait_for_status
from tests.support.gateway import Gateway
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
NAME = "throwaway"


def _run(command: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "VIRTUAL_ENV"))} | env
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree as a team would check it out, in a git repository of its own, with `make adapter` run."""
    root = tmp_path_factory.mktemp("scaffold") / "repo"
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for command in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "clone"]):
        assert _run(command, root).returncode == 0
    made = _run(["make", "adapter", f"NAME={NAME}"], root, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "2 passed" in made.stdout, made.stdout
    return root


def test_a_new_adapter_touches_its_folder_and_generated_files_only(clone: Path) -> None:
    changed = _run(["git", "status", "--porcelain", "--untracked-files=normal"], clone).stdout.splitlines()
    assert sorted(changed) == sorted(
        [f"?? services/adapters/{NAME}/", " M uv.lock", " M README.md", " M skaffold.yaml"]
    ), changed
    assert f"adapter-{NAME}" in (clone / "README.md").read_text()
    assert f"ADAPTER: {NAME}" in (clone / "skaffold.yaml").read_text()
    checked = _run(["make", "check"], clone)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_router_checks_the_new_adapters_options(clone: Path, tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(f"routes:\n  drop:\n    adapter: {NAME}\n    options: {{folder_typo: /tmp}}\n")
    refused = _run(
        [str(clone / ".venv/bin/gateway-router")],
        clone,
        timeout=60,
        GATEWAY_DEMO="true",
        GATEWAY_ROUTES_FILE=str(routes),
        GATEWAY_HTTP_PORT=str(free_port()),
    )
    assert refused.returncode != 0
    assert f"route 'drop' (adapter {NAME}): options invalid: folder: Field required" in refused.stderr
    assert "folder_typo: Extra inputs are not permitted" in refused.stderr


def test_an_upload_reaches_the_new_adapter_end_to_end(clone: Path, tmp_path: Path, pki: Path) -> None:
    backend = tmp_path / "backend"
    backend.mkdir()
    routes = {"routes": {"drop": {"adapter": NAME, "options": {"folder": str(backend)}}}}
    # A vhost of its own: the session's gateway would otherwise consume this gateway's uploads.
    with private_vhost() as amqp_url:
        gw = Gateway(tmp_path / "gw", pki, amqp_url, routes=routes, adapters=(NAME,), bin_dir=clone / ".venv/bin")
        try:
            gw.start()
            txid = f"drop-{uuid.uuid4().hex[:8]}.xml"
            source = tmp_path / txid
            source.write_bytes(b"<report>scaffolded</report>\n")
            upload = curl(gw.ftps_port, pki, ClientCert.from_pki(pki, "employee"), "/drop/", "-T", str(source))
            assert upload.returncode == 0, upload.stderr
            status = wait_for_status(gw.out_dir("company/30808460"), f"status_drop_{txid}.xml", 2, timeout=60)
        finally:
            gw.stop()
    gateway_txid = status.findtext("GatewayTransactionID")
    assert [p.name for p in backend.iterdir()] == [f"{gateway_txid}_{txid}"]
    assert (backend / f"{gateway_txid}_{txid}").read_bytes() == source.read_bytes()
