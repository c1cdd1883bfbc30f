# One image for the Rasa server and the action server (docker-compose.yml picks the command).
# Built from the same lock as `make setup`; no container engine runs on the dev machines, so
# this file is kept deliberately plain and in step with tools/setup.sh.
FROM python:3.11-slim-bookworm

ENV RASA_TELEMETRY_ENABLED=false \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONWARNINGS=ignore \
    PYTHONPATH=/app \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The dashboard's charts measure their Chinese labels with Noto Sans CJK (bot/analytics/charts.py).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir --no-deps -r requirements/lock.txt \
 && pip install --no-cache-dir --no-deps --ignore-requires-python -r requirements/rasa.txt

COPY . .
# Train at build time so the container starts without training (and without the internet).
RUN python -m tools.devstack train

EXPOSE 5005 5055
# The Rasa server (docker-compose.yml and deploy/k8s/ run the action server with their own command).
# `--auth-token=` in one argument: a token starting with "-" would otherwise be read as an option
# (tools/devstack.py rasa_command does the same). `exec` so the container's SIGTERM reaches Rasa.
CMD ["sh", "-c", ": \"${BOT_API_TOKEN:?BOT_API_TOKEN is required}\"; exec rasa run --model \"$(python -m tools.devstack model-path | tail -n 1)\" --port 5005 --enable-api --auth-token=\"$BOT_API_TOKEN\" --credentials credentials.yml --endpoints endpoints.yml --cors '*'"]
