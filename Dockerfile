# syntax=docker/dockerfile:1
# The API and the worker in one image. Build: `just image` (or
# `docker build -t rust-production-template .`); test: `just image-test`.
#
#   docker run IMAGE                  serve the API on 0.0.0.0:8000 (the default command)
#   docker run IMAGE worker           run a background-job worker
#   docker run IMAGE api migrate      apply pending migrations (once per deploy)
#
# Stages: chef (the builder image plus cargo-chef), planner (the dependency
# recipe of the workspace), deps (the dependencies, built from the recipe
# alone: the cached layer), builder (our crates), runtime (two stripped
# binaries on Debian slim).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
# Stripped release binaries; set before the dependencies build so the
# profile is the same for them and for our crates.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never \
    CARGO_REGISTRIES_CRATES_IO_PROTOCOL=sparse
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

# The recipe lists every manifest and the lock file, nothing else, so it (and
# the layer built from it) changes only when dependencies do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS deps
# .cargo/config.toml sets LIBSQLITE3_FLAGS, which the SQLite build reads:
# it must be in place before the dependencies compile.
COPY .cargo .cargo
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked -p api -p worker --recipe-path recipe.json

FROM deps AS builder
COPY . .
RUN cargo build --release --locked -p api -p worker \
 && install -D -m 0755 target/release/api target/release/worker -t /out/

FROM docker.io/library/debian:${DEBIAN_RELEASE}-slim AS runtime
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/your-org/rust-production-template
LABEL org.opencontainers.image.title="rust-production-template" \
      org.opencontainers.image.description="The API and the background-job worker (api, worker, api migrate)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
# CA roots for rediss:// and Postgres over TLS (rustls reads the system's).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && useradd --system --uid 10001 --gid 0 --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
 && mkdir -p /app/data \
 && chown 10001:0 /app/data \
 && chmod 0770 /app/data
COPY --from=builder /out/api /out/worker /usr/local/bin/
# The default SQLite file (sqlite://data/app.db) and a MAIL_DIR such as
# data/mail land on this volume: nothing else is written, so the root
# filesystem can be mounted read-only.
WORKDIR /app
VOLUME ["/app/data"]
ENV ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    METRICS_PORT=9100 \
    LOG_FORMAT=json \
    RELEASE_VERSION=${VERSION}
USER 10001:0
EXPOSE 8000 9100
# Exec form everywhere: the binary is PID 1 and gets SIGTERM itself, so its
# graceful shutdown (SHUTDOWN_GRACE_SECONDS) runs. No shell, no curl: the
# health check is the binary asking its own readiness endpoint.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["api", "healthcheck"]
CMD ["api"]
