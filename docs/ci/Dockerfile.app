# The stand-in "app under test" of docs/ci/docker-compose.yml: bash, curl,
# the sandbox CLI (for `sandbox tpp` and `sandbox healthcheck`) and the CI
# steps. Your app's image takes its place.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/sandbox ./cmd/sandbox

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends bash curl ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/sandbox /usr/local/bin/sandbox
COPY docs/ci/sandbox-ci.sh /usr/local/bin/sandbox-ci.sh
ENTRYPOINT ["bash", "/usr/local/bin/sandbox-ci.sh"]
