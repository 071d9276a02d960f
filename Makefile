# Shortcuts; the scripts do the work (and need nothing but bash and python3).
.PHONY: demo test stress bench lint format services-start services-stop

demo:
	scripts/demo.sh

test:
	scripts/test.sh

stress:
	scripts/stress.sh

bench:
	scripts/bench.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

services-start:
	python3 scripts/services.py install && python3 scripts/services.py start

services-stop:
	python3 scripts/services.py stop
