# One image for every role: web (manage.py serve), workers (runworkers), one-off commands.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/var/lib/engine
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb-dev pkg-config build-essential curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN useradd --system --home /app engine && mkdir -p "$VAR_DIR" && chown engine "$VAR_DIR" \
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0
USER engine
EXPOSE 8000
# The production web tier: a gunicorn master with daphne workers (docs/OPERATIONS.md, "The web tier").
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0", "--port", "8000"]
