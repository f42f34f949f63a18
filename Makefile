# ftps-gateway: the two commands are `make run` and `make test`; the rest serve them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PROTO_OUT := services/common/src/gateway_common/proto
PROTO_SRC := $(wildcard protos/gateway/v1/*.proto)

.PHONY: help bootstrap run test lint typecheck check docs protos protos-check bench clean adapter

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

bootstrap: ## install system tools, uv and the locked Python workspace into .venv
	@scripts/bootstrap.sh

run: bootstrap ## set up the demo PKI and routes, start RabbitMQ if needed and every service
	@scripts/run-local.sh

test: bootstrap protos-check ## unit, integration and end-to-end tests (the CI entry point)
	@scripts/ensure-rabbitmq.sh
	@scripts/bench-setup.sh
	@rm -rf var/coverage && mkdir -p var/coverage
	.venv/bin/coverage run -m pytest -q -ra
	@.venv/bin/coverage combine -q
	.venv/bin/coverage report

lint: ## ruff
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: ## mypy --strict over every service
	.venv/bin/mypy

check: lint typecheck protos-check ## every static check
	$(UV) lock --check --quiet
	.venv/bin/python scripts/settings_table.py --check
	.venv/bin/python scripts/reply_catalogue.py --check
	.venv/bin/python scripts/skaffold_adapters.py --check

docs: ## regenerate README.md's configuration table, docs/hardening.md's reply catalogue and skaffold's adapter entries
	.venv/bin/python scripts/settings_table.py
	.venv/bin/python scripts/reply_catalogue.py
	.venv/bin/python scripts/skaffold_adapters.py

adapter: bootstrap ## scaffold services/adapters/NAME with a working test: make adapter NAME=archive
	@[ -n "$(NAME)" ] || { echo "usage: make adapter NAME=<name>  (lower case, digits, -)"; exit 2; }
	.venv/bin/gateway-adapter new $(NAME)
	$(UV) lock --quiet
	$(UV) sync --frozen --all-packages --quiet
	@$(MAKE) --no-print-directory docs
	.venv/bin/pytest -q services/adapters/$(NAME)

protos: ## regenerate the protobuf code from protos/
	@rm -rf $(PROTO_OUT) && mkdir -p $(PROTO_OUT)/gateway/v1
	.venv/bin/python -m grpc_tools.protoc -Iprotos --plugin=protoc-gen-mypy=.venv/bin/protoc-gen-mypy --python_out=$(PROTO_OUT) --mypy_out=$(PROTO_OUT) $(PROTO_SRC)
	@sed -i 's/^from gateway\.v1 import/from gateway_common.proto.gateway.v1 import/' $(PROTO_OUT)/gateway/v1/*.py $(PROTO_OUT)/gateway/v1/*.pyi
	@touch $(PROTO_OUT)/__init__.py $(PROTO_OUT)/gateway/__init__.py $(PROTO_OUT)/gateway/v1/__init__.py

protos-check: ## fail when the committed generated code drifts from protos/
	@scripts/protos-check.sh $(PROTO_OUT)

bench: bootstrap ## the gateway vs stock pyftpdlib and vsftpd, 5 alternating rounds (~10 min); BENCH_ARGS=--quick
	@scripts/ensure-rabbitmq.sh
	@scripts/bench-setup.sh
	.venv/bin/python -m tests.bench.run $(BENCH_ARGS)

clean: ## remove the local state of `make run`
	rm -rf var/
