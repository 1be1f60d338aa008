# freigabe — install and run through this file; nothing needs to be installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit tools bench mutate clean

demo: $(STAMP)
	$(BIN)/freigabe demo

test: tools $(STAMP) lint typecheck unit

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "freigabe needs Python 3.11 or newer: set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Programs the tests use on this machine's targets; Debian packages, installed when missing.
tools:
	@missing=""; \
	for pair in tar:tar sha256sum:coreutils mount:mount git:git sudo:sudo chromium:chromium nginx:nginx \
	  /usr/sbin/sshd:openssh-server ssh-keygen:openssh-client /usr/sbin/php-fpm8.2:php-fpm php:php-cli \
	  /usr/sbin/mariadbd:mariadb-server mysqldump:mariadb-client wrk:wrk; do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy src tests bench tools

unit: $(STAMP)
	$(BIN)/pytest -q

bench: tools $(STAMP)
	$(BIN)/python bench/deploy_local.py --rounds 5 --dir /dev/shm
	$(BIN)/python bench/deploy_local.py --rounds 5
	$(BIN)/python bench/ssh_deploy.py --rounds 3
	$(BIN)/python bench/recovery_times.py --rounds 5
	$(BIN)/python bench/switch_under_load.py --seconds 20 --runs 3

# Break each trust invariant in a copy of the code; every mutant must be killed (slow: not in `test`).
mutate: tools $(STAMP)
	$(BIN)/python tools/mutate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
