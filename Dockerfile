# sluice processors and sluicectl in one image (Debian 12).
#
# Stage 1 builds with the same scripts/install-deps.sh and CMake invocation as a
# developer machine; stage 2 carries only the runtime libraries, the executables, the
# migrations and the schemas.  The container runs as an unprivileged user; every
# setting comes from SLUICE_* environment variables (see docs/configuration.md).
#
#   docker build -t sluice .
#   docker run --rm sluice sluice-ingress --help

FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" \
 && mkdir -p /out \
 && for f in /build/sluice-* /build/sluicectl; do \
        case "$(basename "$f")" in sluice-it-*) ;; *) cp "$f" /out/ ;; esac; \
    done

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        librdkafka1 libavro23 libjansson4 libpq5 libcivetweb1 libuuid1 libzstd1 libssl3 \
        curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/sluice --create-home sluice
COPY --from=build /out/ /usr/local/bin/
COPY migrations /usr/share/sluice/migrations
COPY schemas /usr/share/sluice/schemas
ENV SLUICE_MIGRATIONS_DIR=/usr/share/sluice/migrations \
    SLUICE_HTTP_BIND=0.0.0.0
USER sluice
WORKDIR /var/lib/sluice
CMD ["sluice-ingress"]
