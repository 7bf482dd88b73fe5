# mpc-node in a container (not needed by the tests). Build: docker build -t mpc-node .
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev m4 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p node && cp target/release/mpc-node /usr/local/bin/mpc-node

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data mpc
COPY --from=build /usr/local/bin/mpc-node /usr/local/bin/mpc-node
USER mpc
VOLUME /data
# 7000: party-to-party (libp2p), 8000: admin JSON-RPC, 9000: metrics.
EXPOSE 7000 8000 9000
ENTRYPOINT ["mpc-node"]
CMD ["run", "--config", "/data/node.toml"]
