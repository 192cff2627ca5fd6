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

# tests/docker builds the image and runs the compose files: Docker must be there. As root
# (CI) it is installed from Debian packages and dockerd started when missing; anyone else
# gets one line with the cause and one with the fix (a missing Docker never skips silently).
# Only when those tests are selected: no arguments, or an argument naming them.
needs_docker() {
    [ "$#" -eq 0 ] && return 0
    case " $* " in *docker*) return 0 ;; esac
    return 1
}

docker_up() {
    if [ "$(id -u)" = 0 ]; then
        if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null ||
            ! command -v mmdebstrap >/dev/null; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                docker.io docker-compose mmdebstrap >/dev/null
        fi
        if ! docker info >/dev/null 2>&1; then
            nohup dockerd >/var/log/opensearch-sparse-dockerd.log 2>&1 &
            for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
        fi
    fi
    if ! docker info >/dev/null 2>&1; then
        echo "error: the Docker daemon is not reachable (tests/docker build and run images)" >&2
        echo "fix: run this as root (it installs docker.io, docker-compose and mmdebstrap and" \
            "starts dockerd), or start dockerd and join the docker group" >&2
        exit 1
    fi
    if ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1; then
        echo "error: neither docker-compose nor the docker compose plugin is installed" >&2
        echo "fix: apt-get install docker-compose (as root)" >&2
        exit 1
    fi
    # The base image from Debian packages (no registry needed), reused when it exists.
    bash scripts/docker-base-image.sh
}

if needs_docker "$@"; then
    step "docker (installed and started when missing; the base image, built once)"
    docker_up
fi

step "lint, format and types"
ruff check .
ruff format --check .
mypy

step "tests"
python3 -m pytest "$@"

step "done"
