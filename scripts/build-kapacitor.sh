#!/usr/bin/env bash
# Build the Kapacitor test server from its Go module, once per version.
#
# Kapacitor 1.5.x is the newest pure-Go release and ships in no package manager reachable here, so the
# test harness builds it from the Go module proxy.  Its go.mod has `replace` lines (so `go install
# ...@v1.5.9` is refused) and it crashes at start-up when built with Go >= 1.22, hence the module copy
# and Debian's Go 1.19.  Binaries are cached outside the repo, keyed by version.
set -euo pipefail

version="${KAPACITOR_VERSION:-1.5.9}"
cache="${CAPPLAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capplan}/kapacitor-${version}"
go119="${GO119:-/usr/lib/go-1.19/bin/go}"

if [[ -x "$cache/kapacitord" && -x "$cache/kapacitor" ]]; then
    echo "kapacitor ${version}: cached in $cache"
    exit 0
fi
if [[ ! -x "$go119" ]]; then
    echo "error: $go119 not found; install it with: apt-get install -y golang-1.19-go" >&2
    exit 1
fi

# Reuse the machine's proxy settings with the older toolchain.
proxy_env=()
if command -v go >/dev/null 2>&1 && [[ "$(command -v go)" != "$go119" ]]; then
    for var in GOPROXY GOSUMDB GONOSUMDB GOPRIVATE; do
        value="$(go env "$var")"
        [[ -n "$value" ]] && proxy_env+=("$var=$value")
    done
fi

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOPATH="$work/gopath" GOCACHE="$work/gocache" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
start=$(date +%s)
src="$(env "${proxy_env[@]}" "$go119" mod download -json "github.com/influxdata/kapacitor@v${version}" \
       | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
cp -r "$src" "$work/kapacitor"
chmod -R u+w "$work/kapacitor"
ldflags="-X main.version=${version} -X main.commit=v${version} -X main.branch=v${version}"
(cd "$work/kapacitor" && env "${proxy_env[@]}" "$go119" build -ldflags "$ldflags" -o "$work/bin/" ./cmd/kapacitord ./cmd/kapacitor)
mkdir -p "$cache"
# Install both binaries atomically so a killed build never leaves a half-written cache.
cp "$work/bin/kapacitord" "$cache/.kapacitord.tmp" && mv "$cache/.kapacitord.tmp" "$cache/kapacitord"
cp "$work/bin/kapacitor" "$cache/.kapacitor.tmp" && mv "$cache/.kapacitor.tmp" "$cache/kapacitor"
echo "kapacitor ${version}: built in $(( $(date +%s) - start )) s into $cache"
