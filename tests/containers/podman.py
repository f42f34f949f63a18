"""podman as a single-node stand-in for Kubernetes: images, `kube play`, and its adaptions.

``adapt_for_podman`` is the one post-render step between the chart's manifests and
`podman kube play` (podman 4.3.1, Debian 12). Every change in it works around a podman bug or
gap, never a chart problem; each carries its reason. The chart itself stays as a cluster gets it.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Kinds `podman kube play` runs; it ignores (or refuses) the rest, which only a cluster can test.
PLAYED_KINDS = ("ConfigMap", "Deployment")


def podman_env() -> dict[str, str]:
    conf = REPO / ".tools" / "containers" / "containers.conf"
    return os.environ | {"CONTAINERS_CONF": str(conf)}


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def dockerfile_targets(dockerfile: Path) -> list[str]:
    """The service images: every stage built on the shared runtime stage."""
    targets = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if len(words) == 4 and words[0] == "FROM" and words[1] == "runtime" and words[2].upper() == "AS":
            targets.append(words[3])
    return targets


@dataclass
class Adapted:
    documents: list[dict[str, Any]]
    # podman secrets to create before playing: name -> the Secret as JSON with decoded data.
    secrets: dict[str, str] = field(default_factory=dict)
    # claim name -> uid:gid the volume must belong to (the pods' fsGroup).
    volume_owners: dict[str, str] = field(default_factory=dict)


def podman_secret(secret: dict[str, Any], as_volume: bool) -> str:
    """The Secret in the form podman 4.3's kube play reads from its store (podman issue 16269).

    Env values come from a plain JSON map of key to base64. Volume files come from a Secret
    document whose `data` holds the decoded text (base64 there would reach the files as is).
    """
    data = dict(secret.get("data") or {})
    data |= {key: base64.b64encode(value.encode()).decode() for key, value in (secret.get("stringData") or {}).items()}
    if not as_volume:
        return json.dumps(data)
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": secret["metadata"], "data": decoded})


def _secret_volumes(documents: list[dict[str, Any]]) -> set[str]:
    names = set()
    for doc in documents:
        spec = doc["spec"]["template"]["spec"] if doc.get("kind") == "Deployment" else doc.get("spec") or {}
        names |= {v["secret"]["secretName"] for v in spec.get("volumes") or [] if "secret" in v}
    return names


def adapt_for_podman(documents: list[dict[str, Any]], *, hosts_file: Path | None = None) -> Adapted:
    """Turn rendered chart manifests into what podman 4.3.1's `kube play --network host` can run."""
    played: list[dict[str, Any]] = []
    adapted = Adapted(played)
    mounted = _secret_volumes(documents)
    for original in documents:
        doc = copy.deepcopy(original)
        kind = doc.get("kind")
        if kind == "Secret":
            # podman issue 16269: kube play reads Secrets only from podman's own secret store.
            name = doc["metadata"]["name"]
            adapted.secrets[name] = podman_secret(doc, as_volume=name in mounted)
            continue
        if kind not in PLAYED_KINDS and kind != "Pod":
            continue
        if kind == "PersistentVolumeClaim":
            # kube play makes the claim's volume owned by root, where the kubelet would give it to
            # the pods' fsGroup: the test makes the volume itself (volume_owners) instead.
            continue
        spec = doc["spec"]["template"]["spec"] if kind == "Deployment" else doc.get("spec")
        if spec is not None:
            _adapt_pod(doc["metadata"]["name"], spec, adapted, hosts_file)
        played.append(doc)
    return adapted


def _adapt_pod(name: str, spec: dict[str, Any], adapted: Adapted, hosts_file: Path | None) -> None:
    fs_group = (spec.get("securityContext") or {}).get("fsGroup")
    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            # Without an explicit `optional`, kube play dereferences a nil pointer and crashes.
            volume["secret"].setdefault("optional", False)
        if "emptyDir" in volume:
            # podman makes an emptyDir a named volume: the same name in two pods would be shared.
            old = volume["name"]
            volume["name"] = f"{name}-{old}"
            for container in spec.get("containers") or []:
                for mount in container.get("volumeMounts") or []:
                    if mount["name"] == old:
                        mount["name"] = volume["name"]
        claim = volume.get("persistentVolumeClaim")
        if claim is not None and fs_group is not None:
            adapted.volume_owners[claim["claimName"]] = f"{spec['securityContext'].get('runAsUser', 0)}:{fs_group}"
    for container in spec.get("containers") or []:
        # With --network host, podman 4.3 refuses containers that declare ports.
        container.pop("ports", None)
    if hosts_file is not None:
        # No cluster DNS here, and podman 4.3 ignores hostAliases with host networking: the
        # Service names a pod uses come from a hosts file that points them at this host.
        spec.setdefault("volumes", []).append({"name": "hosts", "hostPath": {"path": str(hosts_file), "type": "File"}})
        for container in spec.get("containers") or []:
            mount = {"name": "hosts", "mountPath": "/etc/hosts", "readOnly": True}
            container.setdefault("volumeMounts", []).append(mount)
