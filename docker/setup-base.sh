#!/bin/sh
# Run once by the Dockerfile, as root: what the image needs from the distribution, extra CAs,
# the node's user and the project's virtual environment.
set -eu

# Python (the project), Java 21 (the node) and Maven (fetches the node's artifacts). The local
# base image (scripts/docker-base-image.sh) has them already: then nothing is fetched here.
packages="python3 python3-venv openjdk-21-jre-headless maven ca-certificates"
# shellcheck disable=SC2086
if ! dpkg-query -W $packages >/dev/null 2>&1; then
    apt-get update
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
    rm -rf /var/lib/apt/lists/*
fi

# A TLS-intercepting proxy (corporate, or this project's CI) signs with its own CA: trust it
# for pip (PIP_CERT points at the system bundle), Maven and the JVM (its trust store is
# rebuilt from the same certificates by update-ca-certificates' Java hook).
if [ -n "${EXTRA_CA_CERTS:-}" ]; then
    printf '%s\n' "$EXTRA_CA_CERTS" | python3 -c '
import re, sys
pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", sys.stdin.read(), re.S)
if not pems:
    sys.exit("EXTRA_CA_CERTS holds no PEM certificate (-----BEGIN CERTIFICATE----- ...)")
for i, pem in enumerate(pems):
    with open(f"/usr/local/share/ca-certificates/extra-ca-{i}.crt", "w") as out:
        out.write(pem + "\n")
print(f"trusting {len(pems)} extra CA certificate(s)")
'
    update-ca-certificates
fi

# OpenSearch refuses to run as root: the node (and the demo) run as this user.
useradd --system --create-home --home-dir /home/opensearch-sparse --shell /usr/sbin/nologin \
    opensearch-sparse
python3 -m venv "$VIRTUAL_ENV"
