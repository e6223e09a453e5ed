# syntax=docker/dockerfile:1
# Teleread: one static binary. Build:  docker build --build-arg VERSION=$(git describe --always) -t teleread .

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/teleread ./cmd/teleread

# Alpine rather than distroless so that health checks (docker-compose.yml) have wget.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
    && addgroup -S -g 10001 teleread \
    && adduser -S -D -H -u 10001 -G teleread teleread
COPY --from=build /out/teleread /teleread
USER 10001:10001
ENV TELEREAD_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/teleread"]
CMD ["serve"]
