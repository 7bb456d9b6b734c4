# Tasks for working on the project. `just` lists them.
# Install just with `cargo install just --locked` or `pip install rust-just`.

set dotenv-load

# The same default as the API, so `just migrate` works with no .env.
export DATABASE_URL := env("DATABASE_URL", "sqlite://data/app.db?mode=rwc")

# Postgres and Redis for `just test-pg` (compose.yaml's, or your own).
pg_url := env("TEST_DATABASE_URL", "postgres://app:app@localhost:5432/app")
redis_url := env("TEST_REDIS_URL", "redis://:app@localhost:6379")

# List the recipes.
default:
    @just --list

# Run the API, reading .env (migrations apply at start-up outside production).
dev:
    cargo run --bin api

# Run a background job worker (River) until SIGTERM; several may run at once.
worker:
    cargo run --bin worker

# List discarded jobs (attempts used up) with their last error.
jobs-failed:
    cargo run --bin worker -- jobs failed

# Run a discarded, cancelled or retryable job again, now.
jobs-retry ID:
    cargo run --bin worker -- jobs retry {{ID}}

# Cancel a job that has not finished.
jobs-cancel ID:
    cargo run --bin worker -- jobs cancel {{ID}}

# Count jobs by state.
jobs-stats:
    cargo run --bin worker -- jobs stats

# Enqueue COUNT no-op jobs and time how fast workers run them.
jobs-ping COUNT="1000":
    cargo run --release --bin worker -- jobs ping {{COUNT}}

# Apply pending migrations to DATABASE_URL.
migrate:
    cargo run -p migration -- up

# Roll back the latest migration.
rollback:
    cargo run -p migration -- down -n 1

# Drop every table and apply all migrations again. Destroys all data.
reset-database:
    cargo run -p migration -- fresh

# Show which migrations have been applied.
migration-status:
    cargo run -p migration -- status

# Create migration/src/mYYYYMMDD_HHMMSS_NAME.rs and register it.
generate-migration NAME:
    cd migration && cargo run -- generate {{NAME}}

# e.g. `just new-resource projects title:string description:text? done:bool due:datetime?`
# Types: string text int bool datetime uuid decimal; `?` makes a field nullable.
# Scaffold a tested CRUD resource in every layer (README "Adding a resource").
new-resource NAME *FIELDS:
    cargo run -q -p xtask -- new-resource {{NAME}} {{FIELDS}}

# Create a new admin account (password from ADMIN_PASSWORD); refuses an existing email.
create-admin EMAIL USERNAME:
    cargo run --bin api -- create-admin {{EMAIL}} {{USERNAME}}

# Make EMAIL's existing account an admin: its logins end, its password stops working, and a reset link is mailed to EMAIL.
promote-admin EMAIL:
    cargo run --bin api -- create-admin --promote-existing {{EMAIL}}

# Delete EMAIL's account and everything it owns (e.g. one squatting the admin's address).
delete-user EMAIL:
    cargo run --bin api -- delete-user {{EMAIL}}

# Take the admin role from EMAIL (every instance within SESSION_RECHECK_SECONDS).
revoke-admin EMAIL:
    cargo run --bin api -- revoke-admin {{EMAIL}}

# The whole test suite on the embedded default (SQLite, in-memory cache).
test:
    cargo test --workspace

# The same suite against Postgres and Redis.
test-pg:
    TEST_DATABASE_URL={{pg_url}} TEST_REDIS_URL={{redis_url}} cargo test --workspace

# Lint; warnings are errors.
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# What CI checks: formatting, lints, tests.
check:
    cargo fmt --all --check
    just lint
    just test

# Release build, wrk, Postgres + Redis and the embedded default, with the
# reference handlers (see BENCHMARKS.md). `just bench --duration 2` for a
# quick run, `--config embedded` without Postgres, `--config traces` or
# `--config trace-instructions` (valgrind) for the cost of tracing.
# Load-test the API against the reference handlers (BENCHMARKS.md).
bench *ARGS:
    python3 bench/bench.py {{ARGS}}

# Fuzz the running API against its own OpenAPI document (schemathesis, every check).
fuzz-api:
    bash fuzz/run

# Write the OpenAPI document to clients/openapi.json and the TypeScript
# client's types to clients/typescript/src/schema.ts (commit both).
client-ts:
    bash clients/check --write

# The clients are current, the TypeScript one passes its end-to-end test
# against a fresh API, and openapi-python-client takes the document.
client-check:
    bash clients/check

# The layering rules of ARCHITECTURE.md (also part of `just test`).
check-deps:
    cargo test -p tests --test architecture

# Build the container image (Dockerfile): api, worker and `api migrate` in one.
image TAG="rust-production-template:latest":
    if command -v docker >/dev/null; then docker build -t {{TAG}} .; else podman build --format docker -t {{TAG}} .; fi

# Build the image with Podman and run it for real: 2 APIs, 2 workers, signals, probes.
image-test:
    bash deploy/image-test

# Validate compose.yaml, deploy/kubernetes/ and the GitHub workflow.
deploy-check:
    bash deploy/check

# Write the secret files of `docker compose --profile app up` (deploy/secrets/, gitignored).
stack-secrets:
    mkdir -p -m 0700 deploy/secrets
    test -s deploy/secrets/secret_key || openssl rand -hex 32 > deploy/secrets/secret_key
    test -s deploy/secrets/database_url || echo 'postgres://app_api:change-me-api@postgres:5432/app' > deploy/secrets/database_url
    test -s deploy/secrets/database_migration_url || echo 'postgres://app_migrator:change-me-migrator@postgres:5432/app' > deploy/secrets/database_migration_url
    test -s deploy/secrets/redis_url || echo 'redis://:app@redis:6379' > deploy/secrets/redis_url
    chmod 0644 deploy/secrets/secret_key deploy/secrets/database_url deploy/secrets/database_migration_url deploy/secrets/redis_url
