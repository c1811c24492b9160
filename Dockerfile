# syntax=docker/dockerfile:1
# tione-exporter: Prometheus exporter for Tencent Cloud TI-ONE online inference services.
#
#   docker build -t tione-exporter .
#   docker run --rm -p 10120:10120 tione-exporter --demo --web.listen-address 0.0.0.0:10120
#
# BASE is the Debian image both stages start from; the tests build this file unchanged with a local
# bookworm base made by mmdebstrap (--build-arg BASE=localhost/debian:bookworm-slim).
ARG BASE=debian:bookworm-slim

# --- build: the wheel, and a virtual environment holding it and its dependencies ------------------
FROM ${BASE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# The wheel (build isolation fetches setuptools and wheel), then the runtime environment from it.
# Every dependency ships binary wheels, so no compiler is needed; pip and setuptools are removed
# from the environment afterwards so the final image carries no installer.
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
 && python3 -m venv /opt/tione-exporter \
 && /opt/tione-exporter/bin/pip install --no-cache-dir --only-binary=:all: /dist/tione_exporter-*.whl \
 && /opt/tione-exporter/bin/pip uninstall -y pip setuptools \
 && rm -f /opt/tione-exporter/bin/[Aa]ctivate* \
 && /opt/tione-exporter/bin/python -m compileall -q /opt/tione-exporter/lib

# --- final: Debian's python3 (no recommends), CA certificates, the environment, a non-root user ---
FROM ${BASE}
ARG BASE
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/tione-exporter/tione-exporter
LABEL org.opencontainers.image.title="tione-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Tencent Cloud TI-ONE online inference services" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE}"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 65532 tione \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tione
COPY --from=build /opt/tione-exporter /opt/tione-exporter
# MALLOC_ARENA_MAX: at most two glibc malloc arenas, so that the worker threads' freed memory is reused
# instead of held in an arena per thread (docs/performance.md, "Memory" and "Soak").
ENV PATH=/opt/tione-exporter/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
USER 65532:65532
WORKDIR /tmp
EXPOSE 10120
# No curl in the image: Python's urllib asks /-/healthy on the configured port (plain HTTP, or HTTPS
# without verification when a web config turns TLS on; the probes never need basic auth).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import os,ssl,urllib.request as u;p=os.environ.get('TIONE_EXPORTER_WEB_LISTEN_ADDRESS',':10120').rpartition(':')[2];c=ssl._create_unverified_context()\ntry: u.urlopen(f'http://127.0.0.1:{p}/-/healthy',timeout=4)\nexcept Exception: u.urlopen(f'https://127.0.0.1:{p}/-/healthy',timeout=4,context=c)"]
ENTRYPOINT ["tione-exporter"]
