# Web image: the Django site (API, GraphQL, websockets, admin) under daphne,
# with the React UI built in a Node stage.
# Build from the repository root:
#   docker build -f deploy/docker/web.Dockerfile -t taskqueue-web .
#
# Base images are pinned by version tag (no digest: the registry cannot be
# reached from CI to resolve one; ACR's import pins the digest at push).

# --- Stage 1: the UI (frontend/ -> dist/), as scripts/install builds it.
FROM node:20.19.5-bookworm-slim AS ui
WORKDIR /ui
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- Stage 2: the virtualenv, the project, the gRPC code and the static files.
FROM python:3.11.14-slim-bookworm AS app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
WORKDIR /app
COPY . .
COPY --from=ui /ui/dist /app/frontend/dist
# collectstatic needs settings but no service; the key is thrown away with
# this stage (the runtime reads SECRET_KEY from its Secret).
RUN /opt/venv/bin/python -m taskqueue.control.codegen \
 && DEBUG=false SECRET_KEY=collectstatic-only STACK_HOME=/srv/taskqueue \
    /opt/venv/bin/python manage.py collectstatic --no-input -v 0

# --- Stage 3: runtime. No Node, no npm, no pip cache.
FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 taskqueue \
 && useradd --system --uid 10001 --gid taskqueue --home-dir /app --shell /usr/sbin/nologin taskqueue
COPY --from=app /opt/venv /opt/venv
COPY --from=app /app /app
COPY --from=app /srv/taskqueue/static /srv/taskqueue/static
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DEBUG=false \
    STACK_HOME=/srv/taskqueue \
    HTTP_PORT=8000
EXPOSE 8000
USER 10001:10001
# /metrics is the cheap endpoint (no service round trip); /healthz checks
# every dependency and is the readiness probe in Kubernetes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/metrics', timeout=4)"]
# --proxy-headers: behind the ingress controller, the client's address and
# scheme come from X-Forwarded-*.
ENTRYPOINT ["daphne", "--bind", "0.0.0.0", "--port", "8000", "--proxy-headers", "config.asgi:application"]
