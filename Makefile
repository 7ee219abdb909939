# continuity.recovery — build, test and CI entry points (GNU make).
#
#   make demo    one command: install, start the lab, run the whole lifecycle,
#                print the report's path as the last line
#   make test    one command: install, then every suite (unit lint sanity build
#                docs integration chaos molecule) with a summary; non-zero if any failed
#   make help    everything else
#
# Every target is idempotent. Variables (PYTHON, VENV, LAB_DIR, ...) can be
# overridden on the command line: `make unit PYTEST_ARGS=-x`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

PYTHON       ?= python3
VENV         ?= $(ROOT)/.venv
BUILD        ?= $(ROOT)/.build
DIST         ?= $(BUILD)/dist
SANITY_PYTHON ?= 3.11
# apt packages the lab and the suites need (installed only when missing;
# git and shellcheck for ansible-test sanity)
APT_PACKAGES ?= postgresql-15 golang-go golang-github-vmware-govmomi-dev rsync iproute2 git shellcheck
REQUIREMENTS := $(ROOT)/requirements.txt $(ROOT)/requirements-dev.txt
VENV_STAMP   := $(VENV)/.requirements.stamp
COLLECTION_NAME := continuity.recovery
COLLECTION_LINK := $(BUILD)/collections/ansible_collections/continuity/recovery
PLAYBOOK     ?= continuity.recovery.lifecycle
INVENTORY    ?= inventories/lab
LATEST_REPORT ?= evidence/LATEST_REPORT

PYTEST_ARGS      ?=
ANSIBLE_LINT_ARGS ?=
SANITY_ARGS      ?=
MOLECULE_ARGS    ?=
LABCTL_ARGS      ?=
# Suites that must contain tests: for these, "no test files" fails instead of
# being reported as SKIPPED (empty). pytest's exit code 5 (tests found but none
# selected/collected) always fails. See docs/development.md.
REQUIRE_TESTS ?= unit build integration molecule

# The venv first on PATH for every recipe (molecule calls ansible-config & co.).
export PATH := $(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export ANSIBLE_FORCE_COLOR ?= false
# Passed through to tests/lab/labctl.py when set (environment or command line).
LAB_VARS := LAB_DIR LAB_VM_COUNT LAB_PORT_OFFSET LAB_DELAY_MS
$(foreach v,$(LAB_VARS),$(if $(filter undefined,$(origin $(v))),,$(eval export $(v))))

# run_pytest <suite name> <test directory> <extra pytest args>
# - no test_*.py / *_test.py in the directory: SKIPPED (empty), or a failure when
#   the suite is listed in REQUIRE_TESTS;
# - pytest exit 5 (files present, no test collected/selected): failure.
define run_pytest
	@if ! find $(2) -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | grep -q .; then \
	  if [[ " $(REQUIRE_TESTS) " == *" $(1) "* ]]; then \
	    echo "$(1): FAILED: no test files in $(2), and $(1) is in REQUIRE_TESTS"; exit 1; \
	  fi; \
	  echo "$(1): SKIPPED (empty): no test files in $(2) yet"; exit 0; \
	fi; \
	rc=0; pytest $(2) $(3) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "$(1): FAILED: pytest collected no test in $(2) (exit 5)"; fi; \
	exit $$rc
endef

.PHONY: help deps apt venv collection-link lab-up lab-down lab-status demo \
        test unit lint ansible-lint changelog-lint sanity build \
        integration integration-pytest molecule ee-context docs changelog-preview clean

help: ## this list
	@echo "continuity.recovery make targets (variables overridable: make TARGET VAR=value)"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

## ---- set-up -----------------------------------------------------------------

deps: apt venv collection-link ## apt packages (when missing) + .venv + collection link

apt: ## install missing apt packages (apt-get update once, only if needed)
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "apt: all present ($(APT_PACKAGES))"; exit 0; fi; \
	echo "apt: installing:$$missing"; \
	sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo"; fi; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing

venv: $(VENV_STAMP) ## .venv with requirements-dev.txt (re-run only when requirements change)

$(VENV_STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v >= (3, 11) else "need Python >= 3.11 for ansible-core 2.19, got %d.%d" % v)'
	@if [ ! -x "$(VENV)/bin/python" ]; then echo "venv: creating $(VENV)"; $(PYTHON) -m venv "$(VENV)"; fi
	$(VENV)/bin/python -m pip install -q -r $(ROOT)/requirements-dev.txt
	@touch $@

collection-link: ## .build/collections/ansible_collections/continuity/recovery -> repo root
	@if [ "$$(readlink "$(COLLECTION_LINK)" 2>/dev/null)" != "../../../.." ]; then \
	  mkdir -p "$(dir $(COLLECTION_LINK))"; \
	  if [ -d "$(COLLECTION_LINK)" ] && [ ! -L "$(COLLECTION_LINK)" ]; then rmdir "$(COLLECTION_LINK)"; fi; \
	  ln -sfn ../../../.. "$(COLLECTION_LINK)"; \
	  echo "collection-link: $(COLLECTION_LINK) -> ../../../.."; \
	fi

## ---- lab and demo -----------------------------------------------------------

lab-up: deps ## start the lab (two vcsim + PostgreSQL); LAB_DIR, LAB_VM_COUNT honoured
	cd $(ROOT) && $(VENV)/bin/python tests/lab/labctl.py up $(LABCTL_ARGS)

lab-down: ## stop what the lab started (by pid)
	cd $(ROOT) && $(VENV)/bin/python tests/lab/labctl.py down $(LABCTL_ARGS)

lab-status: ## show the lab's processes and endpoints
	cd $(ROOT) && $(VENV)/bin/python tests/lab/labctl.py status $(LABCTL_ARGS)

# A lab other than the default one (LAB_DIR, LAB_PORT_OFFSET or LAB_VM_COUNT set,
# e.g. side by side with a shared lab): the plan in inventories/lab describes the
# default lab only, so the started lab's own plan (`labctl.py plan`) is passed as
# extra vars. DEMO_ARGS go to ansible-playbook verbatim.
DEMO_ARGS ?=
LAB_PLAN := $(BUILD)/lab-plan.yml

demo: deps lab-up ## the whole lifecycle on the lab; last line: path of the report
	@cd $(ROOT); rm -f $(LATEST_REPORT); extra=""; \
	if [ -n "$${LAB_DIR:-}$${LAB_PORT_OFFSET:-}$${LAB_VM_COUNT:-}" ]; then \
	  $(VENV)/bin/python tests/lab/labctl.py plan --output $(LAB_PLAN); extra="-e @$(LAB_PLAN)"; \
	  echo "demo: non-default lab: plan from labctl.py plan -> $(LAB_PLAN)"; fi; \
	echo "ansible-playbook $(PLAYBOOK) -i $(INVENTORY) $$extra $(DEMO_ARGS)"; \
	ansible-playbook $(PLAYBOOK) -i $(INVENTORY) $$extra $(DEMO_ARGS)
	@test -s $(ROOT)/$(LATEST_REPORT) || { echo "demo: $(LATEST_REPORT) was not written" >&2; exit 1; }
	@cat $(ROOT)/$(LATEST_REPORT)

## ---- tests ------------------------------------------------------------------

TEST_SUITES ?= unit lint sanity build docs integration chaos molecule

test: deps ## every suite in TEST_SUITES, then a summary; fails if any failed
	@mkdir -p $(BUILD); summary=$(BUILD)/test-summary.txt; : > $$summary; \
	passed=0; failed=0; skipped=0; log=$(BUILD)/test-logs; mkdir -p $$log; \
	for s in $(TEST_SUITES); do \
	  echo; echo "==== $$s ===="; t0=$$(date +%s); rc=0; \
	  $(MAKE) -C $(ROOT) $$s 2>&1 | tee $$log/$$s.log || rc=$$?; \
	  dt=$$(( $$(date +%s) - t0 )); \
	  if [ $$rc -ne 0 ]; then st=FAILED; failed=$$((failed+1)); \
	  elif grep -q "^$$s: SKIPPED" $$log/$$s.log; then st=SKIPPED; skipped=$$((skipped+1)); \
	  else st=passed; passed=$$((passed+1)); fi; \
	  res=$$(grep -E '^=+ .*(passed|failed|error|no tests ran).* in [0-9.]+s' $$log/$$s.log | sed -E 's/^=+ (.*) =+$$/\1/' | tr '\n' ';' || true); \
	  printf '%-12s %-8s %5ss  %s\n' "$$s" "$$st" "$$dt" "$$res" >> $$summary; \
	done; \
	echo; echo "==== summary (logs in $$log) ===="; cat $$summary; \
	echo "suites: $$passed passed, $$failed failed, $$skipped skipped"; \
	[ $$failed -eq 0 ]

unit: deps ## pytest tests/unit
	$(call run_pytest,unit,tests/unit,)

lint: ansible-lint changelog-lint ## ansible-lint (production profile) + antsibull-changelog lint

ansible-lint: deps
	cd $(ROOT) && ansible-lint --offline $(ANSIBLE_LINT_ARGS)

changelog-lint: deps ## antsibull-changelog lint
	cd $(ROOT) && antsibull-changelog lint

sanity: deps ## ansible-test sanity --local on a copy in .build/sanity (see tests/sanity/run.py)
	cd $(ROOT) && $(VENV)/bin/python tests/sanity/run.py --python $(SANITY_PYTHON) $(SANITY_ARGS)

build: deps ## ansible-galaxy collection build into .build/dist + tests/build
	cd $(ROOT) && rm -f $(DIST)/continuity-recovery-*.tar.gz && \
	  ansible-galaxy collection build --force --output-path $(DIST)
	$(call run_pytest,build,tests/build,)

integration: deps ## lab-up --reseed (fresh vCenters), then pytest -m integration tests/integration
	@if ! find tests/integration -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | grep -q .; then \
	  if [[ " $(REQUIRE_TESTS) " == *" integration "* ]]; then \
	    echo "integration: FAILED: no test files in tests/integration, and integration is in REQUIRE_TESTS"; exit 1; fi; \
	  echo "integration: SKIPPED (empty): no test files in tests/integration yet (lab not started)"; exit 0; fi; \
	$(MAKE) -C $(ROOT) lab-up LABCTL_ARGS="$(LABCTL_ARGS) --reseed" && $(MAKE) -C $(ROOT) integration-pytest

integration-pytest: # the integration tests alone, lab assumed up
	$(call run_pytest,integration,tests/integration,-m integration)

# The reliability suite (docs/reliability.md): tests/chaos on a lab of its own
# (CHAOS_LAB_DIR=/var/lib/crl-chaos-it, port offset 390, purged at the end), then
# docs/reliability.md re-rendered from .build/chaos/figures.json, passed or not.
# CHAOS_SOAK_SECONDS bounds the soak (>= 600 by default; about 16 min in all).
CHAOS_SOAK_SECONDS ?= 600
chaos: deps ## reliability suite tests/chaos (link cut, overflow, bad input, security, soak) -> docs/reliability.md
	@cd $(ROOT); rc=0; \
	CHAOS_SOAK_SECONDS=$(CHAOS_SOAK_SECONDS) CHAOS_COMMAND="make chaos CHAOS_SOAK_SECONDS=$(CHAOS_SOAK_SECONDS)" \
	  pytest tests/chaos $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "chaos: FAILED: pytest collected no test in tests/chaos (exit 5)"; fi; \
	$(VENV)/bin/python tests/chaos/render_reliability.py; \
	exit $$rc

# molecule in collection mode: run from the collection root (where galaxy.yml
# is); it then takes its scenarios from extensions/molecule/**/molecule.yml
# (ansible-native layout, shared config in extensions/molecule/config.yml).
# From extensions/molecule itself it would find nothing. MOLECULE_GLOB in the
# environment still overrides. The venv is first on PATH (ansible-config).
molecule: deps ## molecule test --all (extensions/molecule scenarios, delegated)
	@cd $(ROOT); \
	if ! find extensions/molecule -name molecule.yml 2>/dev/null | grep -q .; then \
	  if [[ " $(REQUIRE_TESTS) " == *" molecule "* ]]; then \
	    echo "molecule: FAILED: no extensions/molecule/*/molecule.yml, and molecule is in REQUIRE_TESTS"; exit 1; fi; \
	  echo "molecule: SKIPPED (empty): no extensions/molecule/*/molecule.yml yet"; exit 0; fi; \
	echo "molecule: scenarios: $$(find extensions/molecule -name molecule.yml | sort | xargs -n1 dirname | xargs -n1 basename | tr '\n' ' ')"; \
	molecule test --all $(MOLECULE_ARGS)

# The documentation site (antsibull-docs + Sphinx, offline; docs/antsibull/):
# the collection's RST into .build/docs/rst, HTML into .build/docs/html with
# warnings as errors, then every module, plugin and role must have its page.
DOCS_BUILD := $(BUILD)/docs
docs: deps ## documentation site of every module, plugin and role -> .build/docs/html (warnings fail)
	@cd $(ROOT); rm -rf $(DOCS_BUILD)/rst $(DOCS_BUILD)/html; mkdir -p $(DOCS_BUILD)/rst; chmod og-w $(DOCS_BUILD)/rst; \
	echo "docs: antsibull-docs collection $(COLLECTION_NAME) -> $(DOCS_BUILD)/rst"; \
	antsibull-docs --config-file docs/antsibull/antsibull-docs.cfg collection --use-current --fail-on-error \
	  --cleanup everything --dest-dir $(DOCS_BUILD)/rst $(COLLECTION_NAME); \
	cp docs/antsibull/index.rst $(DOCS_BUILD)/rst/index.rst; \
	echo "docs: sphinx-build -W -> $(DOCS_BUILD)/html"; \
	DOCS_BUILD_DIR=$(DOCS_BUILD) sphinx-build -b html -c docs/antsibull -W --keep-going -q -j 1 \
	  $(DOCS_BUILD)/rst $(DOCS_BUILD)/html; \
	$(VENV)/bin/python docs/antsibull/check_site.py $(DOCS_BUILD)/html; \
	echo "docs: $(DOCS_BUILD)/html/index.html"

# What `antsibull-changelog release` would write for the next release, on a copy
# (the work tree keeps its fragments; tests/build/test_changelog.py checks the same).
CHANGELOG_COPY := $(BUILD)/changelog/ansible_collections/continuity/recovery
changelog-preview: deps ## CHANGELOG.rst of the next release from the fragments -> .build/changelog/CHANGELOG.rst
	@cd $(ROOT); rm -rf $(BUILD)/changelog; mkdir -p $(CHANGELOG_COPY); \
	cp -r galaxy.yml README.md changelogs plugins roles meta playbooks $(CHANGELOG_COPY)/; \
	cd $(CHANGELOG_COPY) && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH=$(BUILD)/changelog \
	  antsibull-changelog release --use-ansible-doc --date "$$(date -u +%F)"; \
	cp $(CHANGELOG_COPY)/CHANGELOG.rst $(BUILD)/changelog/CHANGELOG.rst; \
	echo "changelog-preview: $(BUILD)/changelog/CHANGELOG.rst"

# The execution environment's build context (ansible-builder v3, no container
# build): .build/ee/Containerfile + _build/ with the requirements and the
# collection tarball; then e.g. `podman build -f .build/ee/Containerfile .build/ee`.
ee-context: deps ## ansible-builder create -> .build/ee (execution-environment.yml; needs the tarball: builds it)
	cd $(ROOT) && ansible-galaxy collection build --force --output-path $(DIST) && \
	  ansible-builder create --file execution-environment.yml --context $(BUILD)/ee --output-filename Containerfile

clean: ## remove .build (stops nothing; the lab has lab-down)
	rm -rf $(BUILD)
