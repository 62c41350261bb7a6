# Syndicate container image: one static binary on distroless.
#
#   docker build -t ghcr.io/syndicate-media/syndicate:dev .
#   docker run --rm -p 8080:8080 -v syndicate-data:/data ghcr.io/syndicate-media/syndicate:dev
#
# Needs BuildKit (the default builder since Docker 23) for the platform
# arguments; `docker buildx build --platform linux/amd64,linux/arm64` cross-
# compiles in the build stage instead of emulating it.
#
# Base image assumptions (check them when you bump Go):
# - golang:1.26 is the official Docker Hub image, moving along Go 1.26.x. go.mod
#   says `go 1.26.8`, so the tag must resolve to 1.26.8 or later: the image sets
#   GOTOOLCHAIN=local, so an older 1.26.x stops with "go.mod requires go >= 1.26.8"
#   instead of downloading a toolchain. Pin both images by digest
#   (FROM golang:1.26@sha256:...) for reproducible builds.
# - gcr.io/distroless/static-debian12:nonroot has CA certificates (TLS to
#   partners, S3, SSM, RDS), tzdata, /etc/passwd with user nonroot (65532) and a
#   writable /tmp, and no shell or package manager. The binary is pure Go
#   (modernc SQLite, no cgo), so it needs nothing else; scratch would need all of
#   that copied in by hand for no gain.
# - No HEALTHCHECK: distroless has no shell or curl, and the binary has no health
#   subcommand. Orchestrators probe GET /healthz (liveness) and GET /readyz
#   (readiness) on port 8080 themselves: see deploy/kubernetes and docs/deploy.md.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first, so editing code does not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/syndicate ./cmd/syndicate
# The data folder, owned by the runtime user, so a fresh volume is writable.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/syndicate /syndicate
COPY --from=build --chown=65532:65532 /out/data /data
# Numeric, so Kubernetes can verify runAsNonRoot without looking up a name.
USER 65532:65532
EXPOSE 8080
# The embedded default keeps its SQLite database and work files here. With
# SYNDICATE_DATABASE_URL (PostgreSQL) it holds only rendered work files.
VOLUME /data
ENTRYPOINT ["/syndicate"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--data-dir", "/data"]
