"""A small `helm` for CI, on Helm's own Go SDK (v4) through helm-python-sdk; no helm binary.

    helm.py lint CHART [-f VALUES]... [--strict] [--kube-version v1.30.0]
    helm.py template CHART [-f VALUES]... [--name NAME] [--namespace NS] [--notes]

`template` validates the values against values.schema.json, renders every template (hooks and
tests included, NOTES.txt only with --notes) and prints the manifests like `helm template`.
Values files merge like helm's -f: later files win, maps merge deeply, null deletes a key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_values(files: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in files:
        data = yaml.safe_load(Path(name).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise SystemExit(f"{name}: values must be a mapping")
        values = merge(values, data)
    return values


def cmd_lint(args: argparse.Namespace) -> int:
    report = helm.lint(
        args.chart,
        load_values(args.values) or None,
        strict=args.strict,
        namespace=args.namespace,
        kube_version=args.kube_version,
    )
    names = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
    worst = 0
    for message in report.get("messages") or []:
        severity = int(message.get("severity", 0))
        worst = max(worst, severity)
        label = names.get(severity, str(severity))
        print(f"[{label}] {message.get('path', '')}: {message.get('error', '')}")
    for error in report.get("errors") or []:
        print(f"[ERROR] {error}")
        worst = 3
    failed = worst >= 3 or (args.strict and worst >= 2)
    linted = report.get("total_charts_linted", 0)
    print(f"{linted} chart(s) linted, {'failed' if failed else 'no failures'}")
    return 1 if failed else 0


def cmd_template(args: argparse.Namespace) -> int:
    values = load_values(args.values)
    with helm.Chart.load(args.chart) as chart:
        chart.validate_schema(values)
        rendered = chart.render(values, name=args.name, namespace=args.namespace, is_install=True)
    out = []
    for path in sorted(rendered):
        text = rendered[path]
        if path.endswith("NOTES.txt"):
            if args.notes:
                out.append(f"# Source: {path}\n{text}")
            continue
        for doc in text.split("\n---"):
            if doc.strip() and any(line.strip() and not line.lstrip().startswith("#") for line in doc.splitlines()):
                out.append(f"---\n# Source: {path}\n{doc.strip(chr(10))}\n")
    sys.stdout.write("".join(out))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="helm.py")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("lint", "template"):
        p = sub.add_parser(name)
        p.add_argument("chart")
        p.add_argument("-f", "--values", action="append", default=[])
        p.add_argument("--namespace", default="ftps-gateway")
        if name == "lint":
            p.add_argument("--strict", action="store_true")
            p.add_argument("--kube-version", default=None)
        else:
            p.add_argument("--name", default="gw")
            p.add_argument("--notes", action="store_true")
    args = parser.parse_args()
    try:
        return cmd_lint(args) if args.command == "lint" else cmd_template(args)
    except helm.HelmError as exc:
        print(f"helm.py {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
