# The ngshare server image: `docker build -t registry.example.org/ngshare:1.0.0 .`
# from a checkout. It runs as an unprivileged user (uid 1000) and writes only
# to its data directory (/srv/ngshare, a volume) and /tmp, so the Kubernetes
# manifests in deploy/kubernetes can give it a read-only root filesystem.

# Build the wheels (ngshare and its dependencies, the PostgreSQL driver and
# boto3 for the S3 blob store included) in a stage of their own: the final
# image has no compiler and no sources.
FROM python:3.12-slim AS wheels
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgresql,s3]"

FROM python:3.12-slim
RUN useradd --uid 1000 --user-group --home-dir /srv/ngshare --no-create-home ngshare \
    && install -d -o ngshare -g ngshare -m 0700 /srv/ngshare
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "ngshare[postgresql,s3]" \
    && rm -rf /wheels
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NGSHARE_DATA_DIR=/srv/ngshare
USER 1000:1000
WORKDIR /srv/ngshare
EXPOSE 10101
ENTRYPOINT ["ngshare"]
CMD ["--ip=0.0.0.0", "--port=10101"]
