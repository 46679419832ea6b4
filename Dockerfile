# Hearken in a container: the same `hearken serve` as scripts/serve, as a non-root user, data in a volume.
# Set HEARKEN_DATABASE_URL for PostgreSQL; without it, SQLite lives in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEARKEN_DATA_DIR=/data HEARKEN_ENVIRONMENT=production

RUN useradd --create-home --uid 10001 hearken
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY api ./api
COPY migrations ./migrations
COPY webclient ./webclient
# Editable, so alembic.ini, migrations/ and webclient/ are found beside the code, as in a checkout.
RUN pip install -e . && mkdir -p /data && chown hearken:hearken /data

USER hearken
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health')"
CMD ["hearken", "serve", "--host", "0.0.0.0", "--port", "8000"]
