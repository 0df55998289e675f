# The drgdip HTTP service (`drgdip serve`): slim Python 3.11, non-root, with a health check.
#   docker build -t drgdip .
#   docker run --rm -p 8000:8000 -v drgdip-data:/data drgdip
#   docker exec <container> drgdip keys create --role admin      # prints a key
# The store (DuckDB) and the batch job files live in the /data volume.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY grouper ./grouper
COPY weights ./weights
COPY engine ./engine
COPY api ./api
RUN python -m venv /opt/drgdip \
 && /opt/drgdip/bin/pip install --upgrade pip wheel \
 && /opt/drgdip/bin/pip install -c constraints.txt .

FROM python:3.11-slim
ENV PATH=/opt/drgdip/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DRGDIP_DB=/data/drgdip.duckdb
RUN groupadd --system --gid 10001 drgdip \
 && useradd --system --uid 10001 --gid drgdip --home-dir /data --shell /usr/sbin/nologin drgdip \
 && mkdir -p /data && chown drgdip:drgdip /data
COPY --from=build /opt/drgdip /opt/drgdip
USER drgdip
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# no curl in the slim image: the probe is Python's urllib against /healthz
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["drgdip", "serve", "--host", "0.0.0.0", "--port", "8000"]
