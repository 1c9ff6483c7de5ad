# syntax=docker/dockerfile:1
#
# One image for all five clawbus services. The command picks the service:
#   python -m ingest | router | worker | delivery | scheduler      (and `clawbus` for the CLI)
#
# Stage 1 resolves and installs everything from the committed uv.lock into /opt/clawbus/venv.
# Stage 2 is a clean python:slim with that virtualenv copied in: no uv, no compilers, no source.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/clawbus/venv
WORKDIR /src

# Third-party dependencies first: this layer is reused until uv.lock or a pyproject changes.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/ingest/pyproject.toml services/ingest/
COPY services/router/pyproject.toml services/router/
COPY services/worker/pyproject.toml services/worker/
COPY services/delivery/pyproject.toml services/delivery/
COPY services/scheduler/pyproject.toml services/scheduler/
COPY cli/pyproject.toml cli/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-install-workspace

# Then the workspace members themselves, installed as regular (non-editable) packages so the
# final stage needs nothing from /src.
COPY libs libs
COPY services services
COPY cli cli
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-editable


FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 clawbus \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin clawbus
COPY --from=build /opt/clawbus/venv /opt/clawbus/venv
ENV PATH=/opt/clawbus/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CLAWBUS_HTTP_HOST=0.0.0.0 \
    CLAWBUS_HTTP_PORT=8080
# No CLAWBUS_CONFIG_PATH here: Compose and the manifests name the config they mount, and a
# named config must exist; without one, a container runs the built-in default.
# Not /tmp: `python -m` puts the working directory first on sys.path, so keep it read-only.
WORKDIR /opt/clawbus
USER 10001:10001
EXPOSE 8080
# Exec form: the service is PID 1 and receives SIGTERM itself to drain (CLAWBUS_DRAIN_GRACE_S).
CMD ["python", "-m", "ingest"]
