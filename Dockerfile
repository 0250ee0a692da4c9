# syntax=docker/dockerfile:1
# boxoffice: a multi-stage build into a small runtime image that runs as a non-root user.
#
#   docker build -t boxoffice .
#   docker run -p 8080:8080 boxoffice            # the embedded default (SQLite, demo data)
#
# See docs/DEPLOY.md for PostgreSQL + Redis + NATS and several nodes (deploy/compose*.yaml).

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild them: a stub crate with the real
# manifest and lock file.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in launch search qr; do echo 'fn main() {}' > "benches/$b.rs"; done \
 && cargo build --profile production --locked \
 && rm -rf src benches
COPY src src
COPY migrations migrations
COPY benches benches
# The stub's artifacts are older than the sources; touch so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
 && cargo build --profile production --locked \
 && strip target/production/boxoffice

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/boxoffice boxoffice \
 && mkdir -p /var/lib/boxoffice \
 && chown boxoffice:boxoffice /var/lib/boxoffice
COPY --from=build /src/target/production/boxoffice /usr/local/bin/boxoffice
USER boxoffice:boxoffice
WORKDIR /var/lib/boxoffice
ENV BOXOFFICE_BIND=0.0.0.0:8080 \
    BOXOFFICE_DATA_DIR=/var/lib/boxoffice \
    BOXOFFICE_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/boxoffice"]
# SIGTERM: stop accepting, let in-flight requests finish (BOXOFFICE_SHUTDOWN_GRACE_SECONDS).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/boxoffice"]
CMD ["serve"]
