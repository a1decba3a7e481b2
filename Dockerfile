# One QuantumLock node. Stateless: state lives in PostgreSQL and Redis (see compose.yaml).
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/lock.txt ./requirements/
COPY sdk ./sdk
COPY pyproject.toml README.md ./
COPY src ./src
# Third-party wheels exactly as locked (hash-checked), then the SDK's and the server's own;
# --no-deps: the public index's `qcos` and `quantumlock` are other projects. The lock also
# holds the dev and quantum extras; the runtime stage installs only what the server needs.
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements/lock.txt \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /app ./sdk .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data quantumlock \
    && mkdir -p /data && chown quantumlock /data
COPY --from=build /wheels /wheels
COPY --from=build /app /app
# The server with its `saml` extra (SAML SSO: python3-saml, xmlsec's self-contained wheel).
RUN set -- /app/quantumlock-*.whl \
    && pip install --no-cache-dir --no-index --find-links /wheels /app/qcos-*.whl "$1[saml]" \
    && rm -rf /wheels /app
USER quantumlock
ENV QL_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status == 200 else 1)"]
# QL_DATABASE_URL, QL_REDIS_URL and QL_MASTER_KEY come from the environment.
CMD ["quantumlock", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
