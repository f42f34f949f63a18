"""``gateway-adapter``: list and run the installed adapters, and scaffold a new one.

gateway-adapter list            names of the installed adapters
gateway-adapter run [NAME]      run one (NAME may be left out when only one is installed,
                                as in an adapter's container image)
gateway-adapter new NAME        scaffold services/adapters/NAME (see gateway_common.scaffold)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway_common.adapter import Adapter, run_adapter
from gateway_common.registry import installed_adapters
from gateway_common.service import run_service, service_main


def run_adapter_main(adapter_class: type[Adapter[Any]]) -> None:
    """Run ``adapter_class`` as a service: its settings, /healthz, /readyz, /metrics, signals.

    Any failure to start (bad settings, a port in use) is one error line and exit code 1.
    """
    name = f"adapter-{adapter_class.name}"

    @service_main(name)
    def main() -> None:
        settings = adapter_class.settings_model()
        adapter = adapter_class(settings)
        run_service(name, settings, lambda: run_adapter(adapter), checks=[adapter.readiness])

    main()


def _pick(name: str | None) -> type[Adapter[Any]]:
    adapters = installed_adapters()
    if name is None and len(adapters) == 1:
        return next(iter(adapters.values()))
    if name in adapters:
        return adapters[name]
    installed = ", ".join(adapters) or "none"
    wanted = "name the adapter to run" if name is None else f"no adapter named {name!r} is installed"
    raise SystemExit(f"gateway-adapter: {wanted} (installed: {installed})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gateway-adapter", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="names of the installed adapters")
    run = commands.add_parser("run", help="run an installed adapter")
    run.add_argument("name", nargs="?")
    new = commands.add_parser("new", help="scaffold a new adapter package with a working test")
    new.add_argument("name")
    new.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    args = parser.parse_args(argv)
    if args.command == "list":
        sys.stdout.write("".join(f"{name}\n" for name in installed_adapters()))
    elif args.command == "run":
        run_adapter_main(_pick(args.name))
    else:
        from gateway_common.scaffold import scaffold  # noqa: PLC0415 - a developer tool, not the services'

        for path in scaffold(args.root, args.name):
            sys.stdout.write(f"created {path}\n")


if __name__ == "__main__":
    main()
