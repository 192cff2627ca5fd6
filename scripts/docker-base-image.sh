#!/usr/bin/env bash
# Build the base image the Dockerfile starts from, out of Debian packages only, for machines
# that cannot pull from a container registry (users with one can skip this: the Dockerfile's
# default base image is debian:trixie-slim).
#
#   bash scripts/docker-base-image.sh                # -> opensearch-sparse-base:trixie
#   OPENSEARCH_SPARSE_BASE_IMAGE=opensearch-sparse-base:trixie docker compose up
#
# Needs root (or a user mmdebstrap can unshare for), mmdebstrap and Docker. An image with the
# same name and the same package list is reused (that is the cache between CI runs on one
# machine); FORCE=1 rebuilds it. Argument: the image name (default as above, or
# $OPENSEARCH_SPARSE_BASE_IMAGE).
set -euo pipefail

image="${1:-${OPENSEARCH_SPARSE_BASE_IMAGE:-opensearch-sparse-base:trixie}}"
suite=trixie
# What the Dockerfile needs from the base: Python (a venv for the project), Java 21 (the node),
# Maven (fetches the node's artifacts) and the CA bundle.
packages=python3,python3-venv,openjdk-21-jre-headless,maven,ca-certificates
recipe="$suite:$packages"

if [ "${FORCE:-0}" != 1 ] &&
    [ "$(docker image inspect -f '{{index .Config.Labels "opensearch-sparse.base-recipe"}}' \
        "$image" 2>/dev/null)" = "$recipe" ]; then
    echo "$image is up to date (FORCE=1 rebuilds it)"
    exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
    echo "error: mmdebstrap is not installed" >&2
    echo "fix: apt-get install mmdebstrap (as root), then rerun $0" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
mmdebstrap --quiet --variant=minbase --include="$packages" "$suite" "$work/rootfs.tar"
docker import \
    --change "LABEL opensearch-sparse.base-recipe=$recipe" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$work/rootfs.tar" "$image" >/dev/null
echo "built $image in $(($(date +%s) - started))s"
