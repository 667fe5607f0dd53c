# make demo | make test | make bench | make lint — each sets up (or updates) the virtualenv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SANDBOX_DIR ?= sandbox
PYTEST_ARGS ?=

.PHONY: system-deps setup demo test lint specs unit integration bench sandbox-up sandbox-down clean

setup: system-deps $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,azure]'
	touch $(STAMP)

# Debian packages the sandbox and the tests use: sshd for the Linux test hosts, iproute2 for their network
# namespaces, ssh-agent/ssh-keygen from the client. Installed only when missing (root, as on CI).
system-deps:
	@missing=""; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	command -v ssh-agent >/dev/null || missing="$$missing openssh-client"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

demo: setup
	$(BIN)/shieldops-ansible demo --dir $(SANDBOX_DIR)

lint: setup
	$(BIN)/ruff check shieldops_ansible tests bench examples
	$(BIN)/mypy
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint --offline playbooks collections/ansible_collections/shieldops/connectors/roles molecule extensions

# The provider roles' meta/argument_specs.yml, generated from their settings models (--check: exit 1 if stale).
specs: setup
	$(BIN)/python -m shieldops_ansible.argument_specs

# A provider's own tests live in its folder under tests/providers/: the marker, not the folder, tells them apart.
unit: setup
	$(BIN)/pytest -q -m "not integration" $(PYTEST_ARGS)

integration: setup
	$(BIN)/pytest -q -m integration $(PYTEST_ARGS)

test: setup lint
	$(BIN)/pytest -q -n auto --dist loadfile --durations=15 $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/run.py

sandbox-up: setup
	$(BIN)/shieldops-ansible sandbox up --dir $(SANDBOX_DIR)

sandbox-down: setup
	$(BIN)/shieldops-ansible sandbox down --dir $(SANDBOX_DIR)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
