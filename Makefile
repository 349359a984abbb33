# Two commands on a fresh Debian machine (as root): `make demo` and `make test`.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo serve test bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@mkdir -p out
	$(BIN)/livehuman render --text "Hello! I am livehuman, a talking digital human. I run on your CPU, in real time." -o out/demo.mp4
	@echo "demo: wrote out/demo.mp4"

serve: setup
	$(BIN)/livehuman serve

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/livehuman bench render

clean:
	rm -rf out .pytest_cache
