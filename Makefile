# Two commands on a fresh Debian machine (as root): `make demo` and `make test`.
# `make demo` renders out/demo.mp4, then serves the live page until Ctrl+C; `make demo-render`
# only renders (for headless checks).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo demo-render serve test test-fast bench constraints clean

setup:
	@bash scripts/setup.sh

demo: demo-render
	@echo "demo: now the live conversation; open the address below once it is printed (Ctrl+C stops it)"
	$(BIN)/livehuman serve

demo-render: setup
	@mkdir -p out
	$(BIN)/livehuman render --text "Hello! I am livehuman, a talking digital human. I run on your CPU, in real time." -o out/demo.mp4
	@echo "demo: wrote out/demo.mp4"

serve: setup
	$(BIN)/livehuman serve

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Everyday work: no root, no browser, no network namespace, no long test (see README, Tests).
test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not netns and not browser"

bench: setup
	$(BIN)/livehuman bench render

# After moving a package's version on purpose and passing `make test` (see constraints.txt).
constraints:
	@head -4 constraints.txt > constraints.new
	$(BIN)/pip freeze --all --exclude-editable | grep -v '^pip==' | sed -E 's/^(torch==[^+]+)\+.*/\1/' >> constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf out .pytest_cache
