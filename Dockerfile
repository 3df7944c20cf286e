# syntax=docker/dockerfile:1
# sagabus in a container: the wheel is built in one stage and installed, with its
# dependencies, in a slim image that runs as an unprivileged user.
#   docker build -t sagabus .
#   docker run --rm sagabus --help

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
# what `pip install .` reads: the project file, its readme and the packages it names
COPY pyproject.toml README.md ./
COPY bus ./bus
COPY saga_dsl ./saga_dsl
COPY sagabus ./sagabus
COPY handlers ./handlers
# the runtime extras `make install` brings (sagabus[postgres,otel,console,fast]: PostgreSQL,
# tracing, the web console, uvloop);
# the dev tools stay out of the image
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres,otel,console,fast]"

FROM python:${PYTHON_VERSION}-slim
# no pyproject.toml in the image: the example project's services and sagas are named by
# SAGABUS_SERVICES and SAGABUS_SAGAS, so `docker compose run --rm sagabus send ...` finds
# the contracts (`sagabus config` shows the effective settings)
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SAGABUS_LOG_FORMAT=json \
    SAGABUS_SERVICES=handlers \
    SAGABUS_SAGAS=sagas
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin sagabus
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "sagabus[postgres,otel,console,fast]" \
    && rm -rf /wheels
WORKDIR /app
COPY --chown=sagabus:sagabus sagas ./sagas
USER sagabus
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/readyz', timeout=4)"]
ENTRYPOINT ["sagabus"]
CMD ["run", "--sagas", "sagas", "--handlers", "handlers", "--metrics-port", "9464"]
