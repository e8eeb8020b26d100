# Shortcuts; each is one Go command you can run yourself.
VERSION ?= dev

.PHONY: build test release
build:            ## the binary, as the container image builds it
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/obsandbox/sandbox/internal/app.Version=$(VERSION)" -o sandbox ./cmd/sandbox
test:             ## every test (loopback only)
	go test ./...
release:          ## release artefacts for linux, darwin and windows into dist/ (nothing is published)
	go run ./internal/release --out dist --version $(VERSION)
