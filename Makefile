# Stratos as code. `make demo` and `make test` install what they need themselves:
# Debian packages (apt), a .venv with the project, the collection, and the images.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
BUILD     := .build
COLLECTIONS := $(BUILD)/collections
DEB_PACKAGES := debootstrap git wrk apache2-utils socat docker-registry curl openssh-server openssh-client openssl procps
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
# Tests and the demo build from the local Debian base; real users keep the default (Docker Hub's debian).
TEST_BASE_IMAGE ?= stratos/debian:bookworm
DEMO_PORT ?= 8080
# Where the demo keeps its state (the playbooks' default; bench/deploy.py uses a temporary one).
DEMO_STATE_DIR ?= /var/lib/stratos
PYTEST_ARGS ?=

.PHONY: help deps venv collection images clean-images lint layering sanity unit integration molecule test demo demo-down bench clean

help:
	@echo "make demo   - set everything up and run the seed demo on the local Docker Engine (http://localhost:$(DEMO_PORT)/)"
	@echo "make test   - set everything up and run lint, type checks, sanity, unit and integration tests"
	@echo "make bench  - run the benchmarks (tables with ratios)"
	@echo "make clean-images - remove every image the project built except the Debian base ($(TEST_BASE_IMAGE))"

deps: $(BUILD)/deps.stamp
$(BUILD)/deps.stamp:
	@mkdir -p $(BUILD)
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@docker info >/dev/null 2>&1 || { echo "error: no Docker Engine reachable (docker info failed)"; exit 1; }
	@touch $@

venv: $(BIN)/.installed
$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# The collection is rebuilt and reinstalled only when what goes into it changed: every file and
# directory (a directory changes when an entry is added, removed or renamed) of what galaxy.yml's
# build_ignore leaves in, and the venv (ansible-core) that builds it.
COLLECTION_SOURCES := galaxy.yml README.md \
  $(shell find plugins roles playbooks meta \( -name __pycache__ -o -name '*.pyc' \) -prune -o -print)
COLLECTION_INSTALLED := $(COLLECTIONS)/ansible_collections/stratos/paas/MANIFEST.json

collection: $(COLLECTION_INSTALLED)
$(COLLECTION_INSTALLED): $(BIN)/.installed $(COLLECTION_SOURCES)
	@rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist $(COLLECTIONS)
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist >/dev/null
	$(BIN)/ansible-galaxy collection install --force -p $(COLLECTIONS) $(BUILD)/dist/stratos-paas-*.tar.gz >/dev/null
	@touch $@
	@echo "collection stratos.paas installed in $(COLLECTIONS)"

images: deps venv
	STRATOS_BASE_IMAGE=$(TEST_BASE_IMAGE) bash images/build-all.sh

# Every image the project builds (cartridges, agent, test registry, test fixtures, any stratos/* or
# stratos-test* tag, untagged ones Stratos built) except the Debian base; `make images` rebuilds them.
clean-images: deps
	STRATOS_BASE_IMAGE_TAG=$(TEST_BASE_IMAGE) bash images/clean-images.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory layering

layering: venv
	$(BIN)/lint-imports

sanity: collection
	bash tests/sanity/run.sh

unit: venv
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

integration: deps venv collection images
	STRATOS_BASE_IMAGE=$(TEST_BASE_IMAGE) $(BIN)/pytest -q tests/integration $(PYTEST_ARGS)

molecule: deps venv collection images
	bash tests/molecule.sh

test: deps venv lint unit sanity integration molecule
	@echo "all checks passed"

demo: deps venv collection images
	STRATOS_BASE_IMAGE=$(TEST_BASE_IMAGE) $(BIN)/ansible-playbook -i localhost, -c local \
	  -e ansible_python_interpreter=$(CURDIR)/$(BIN)/python -e demo_port=$(DEMO_PORT) \
	  -e stratos_state_dir=$(DEMO_STATE_DIR) playbooks/demo.yml
	@echo "The seed demo is served on http://localhost:$(DEMO_PORT)/  (try: for i in 1 2 3 4; do curl -s localhost:$(DEMO_PORT)/; done)"

demo-down: venv collection
	$(BIN)/ansible-playbook -i localhost, -c local -e ansible_python_interpreter=$(CURDIR)/$(BIN)/python \
	  -e stratos_state_dir=$(DEMO_STATE_DIR) playbooks/demo-down.yml

bench: deps venv collection images
	$(BIN)/python bench/policy_quality.py
	STRATOS_BASE_IMAGE=$(TEST_BASE_IMAGE) $(BIN)/python bench/reaction.py
	STRATOS_BASE_IMAGE=$(TEST_BASE_IMAGE) $(BIN)/python bench/deploy.py
	STRATOS_BASE_IMAGE=$(TEST_BASE_IMAGE) $(BIN)/python bench/kill.py --output bench/results/kill.txt

clean:
	rm -rf $(BUILD) *.egg-info
