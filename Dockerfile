# syntax=docker/dockerfile:1
# Builds the same static binary the tests build (CGO_ENABLED=0, pure-Go SQLite)
# and runs it as a non-root user with its database in a volume.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/obsandbox/sandbox/internal/app.Version=${VERSION}" \
      -o /out/sandbox ./cmd/sandbox && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sandbox /usr/local/bin/sandbox
COPY --from=build --chown=65532:65532 /out/data /data
ENV SANDBOX_ADDR=0.0.0.0:8080 \
    SANDBOX_DB=/data/sandbox.db
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD ["/usr/local/bin/sandbox", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sandbox"]
CMD ["serve"]
