#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run calls this file, nothing else):
# install everything the suite needs, then lint, types and every test. The integration tests
# start and stop the OpenSearch node(s) they need; ../shared is not needed. Arguments go to
# pytest (e.g. `bash scripts/test.sh tests/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(($(date +%s) - started))"; }

step "python dependencies (the [dev] extra: runtime, train, bench, test tools)"
python3 -m pip install --quiet --progress-bar off -e ".[dev]"

step "lint, format and types"
ruff check .
ruff format --check .
mypy

step "tests"
python3 -m pytest "$@"

step "done"
