# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip

.PHONY: run test install install-test migrate demo check clean messages

run:            ## set up, load demo data, serve the admin with a Celery worker and beat
	@scripts/run.sh

test:           ## install what the tests need and run the whole suite
	@scripts/test.sh

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q -c constraints.txt -e '.[test]'
	@touch $@

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

messages: install  ## the catalogues after a string changed: new messages arrive empty in locale/{fr,es}
	$(PY) -m tests.i18n.catalogues

clean:
	rm -rf var test-results
