# opensearch-sparse in a container: the embedded node (the same Maven artifacts, checks,
# opensearch.yml and staged libtorch as `opensearch-sparse cluster start`) and the CLI.
#
#   docker compose up                      # builds this, one node + the demo (docker-compose.yml)
#
# BASE_IMAGE: any Debian trixie image; without a registry, build a local one from Debian
# packages with scripts/docker-base-image.sh (README: With Docker).
# EXTRA_CA_CERTS: PEM text of CA certificates to trust behind a TLS-intercepting proxy
# (applied to pip, Maven and the JVM).
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE}

ARG EXTRA_CA_CERTS=""
ENV LANG=C.UTF-8 \
    VIRTUAL_ENV=/opt/opensearch-sparse/venv \
    PATH=/opt/opensearch-sparse/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPENSEARCH_SPARSE_HOME=/var/lib/opensearch-sparse

COPY docker/setup-base.sh /tmp/setup-base.sh
RUN sh /tmp/setup-base.sh && rm /tmp/setup-base.sh

# The runtime dependencies alone first (no torch: indexing and querying never need it), so
# that a change to the code reuses this layer.
COPY pyproject.toml /opt/opensearch-sparse/src/
RUN cd /opt/opensearch-sparse/src && python3 -c 'import tomllib; \
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
    > requirements.txt && pip install --progress-bar off -r requirements.txt

# The node, assembled by the library exactly as for `cluster start` (LocalCluster.install, also
# `opensearch-sparse cluster install`): Maven fetches and checks every artifact, the plugins
# are installed and libtorch is staged, so a model deploys with no internet. Only the modules
# that assemble it are copied first, so a change elsewhere in the code keeps this layer and
# its ~700 MB of downloads; the downloads are dropped once assembled.
COPY opensearch_sparse/__init__.py opensearch_sparse/config.py opensearch_sparse/errors.py \
    opensearch_sparse/progress.py /opt/opensearch-sparse/node-src/opensearch_sparse/
COPY opensearch_sparse/cluster/__init__.py opensearch_sparse/cluster/process.py \
    opensearch_sparse/cluster/install.py opensearch_sparse/cluster/artifacts.py \
    opensearch_sparse/cluster/java.py opensearch_sparse/cluster/identity.py \
    opensearch_sparse/cluster/layout.py /opt/opensearch-sparse/node-src/opensearch_sparse/cluster/
RUN cd /opt/opensearch-sparse/node-src && python3 -c 'import sys; \
from opensearch_sparse.cluster import LocalCluster; \
print(LocalCluster().install(lambda m: print(m, file=sys.stderr))[0])' \
    && rm -rf /opt/opensearch-sparse/node-src "$OPENSEARCH_SPARSE_HOME/m2" \
    && mkdir -p "$OPENSEARCH_SPARSE_HOME/nodes" "$OPENSEARCH_SPARSE_HOME/demo" \
    && chown opensearch-sparse: "$OPENSEARCH_SPARSE_HOME/nodes" "$OPENSEARCH_SPARSE_HOME/demo"

COPY README.md /opt/opensearch-sparse/src/
COPY opensearch_sparse /opt/opensearch-sparse/src/opensearch_sparse/
COPY model_export /opt/opensearch-sparse/src/model_export/
RUN pip install --progress-bar off --no-deps /opt/opensearch-sparse/src \
    && rm -rf /opt/opensearch-sparse/src \
    && opensearch-sparse cluster install

USER opensearch-sparse
WORKDIR /home/opensearch-sparse
EXPOSE 9200 9300
ENTRYPOINT ["opensearch-sparse"]
CMD ["cluster", "serve"]
