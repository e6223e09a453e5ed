#!/usr/bin/env bash
# Fetches the OHIF viewer (npm package @ohif/app, MIT) at a pinned version
# into the tools cache and prints the path of its built dist/ folder, which
# `teleread serve` serves under /viewer/ (internal/web/viewer).
#
#   scripts/ohif.sh            fetch once, print the dist path
#   scripts/ohif.sh --path     print where the dist lives (fetched or not)
#
# The tarball comes from the npm registry with `npm pack` and must match the
# sha512 integrity pinned below (the registry's `dist.integrity` of this
# version); it is unpacked beside it into
#   ${TELEREAD_TOOLS_DIR:-$HOME/.cache/teleread/tools}/ohif-app-<version>/dist
# (the cache scripts/services.sh builds MinIO into, shared by every clone).
# When the dist is there, nothing is fetched: the script answers at once.
# The server reads the same path when TELEREAD_OHIF_DIR is unset.
#
# Exit status: 0 with the path on stdout; 1 when it cannot be had (no npm, no
# registry, a tarball that does not match). Callers decide what that means:
# `make run` serves without the viewer, scripts/test-tools.sh fails under
# CI=true. Messages go to stderr.
set -euo pipefail

OHIF_VERSION=3.13.2
OHIF_INTEGRITY=sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==

log() { printf 'ohif: %s\n' "$*" >&2; }
die() {
	printf 'ohif: error: %s\n' "$*" >&2
	exit 1
}

home_dir() {
	if [[ -n "${HOME:-}" ]]; then
		printf '%s\n' "$HOME"
	else
		getent passwd "$(id -u)" | cut -d: -f6
	fi
}

# The same cache root as scripts/services.sh (tools_dir there).
tools_dir() { printf '%s\n' "${TELEREAD_TOOLS_DIR:-$(home_dir)/.cache/teleread/tools}"; }

dir="$(tools_dir)/ohif-app-${OHIF_VERSION}"
dist="${dir}/dist"
stamp="${dir}/.complete"

if [[ "${1:-}" == "--path" ]]; then
	printf '%s\n' "$dist"
	exit 0
fi

ready() { [[ -f "$stamp" && "$(cat "$stamp")" == "$OHIF_INTEGRITY" && -f "$dist/index.html" ]]; }

if ready; then
	printf '%s\n' "$dist"
	exit 0
fi

mkdir -p "$dir"
# One fetch at a time per cache (several clones may run make test at once).
exec 9>"${dir}.lock"
flock 9
if ready; then
	printf '%s\n' "$dist"
	exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm is not installed (Debian: apt-get install npm); the viewer cannot be fetched"
tarball="${dir}/ohif-app-${OHIF_VERSION}.tgz"
if [[ ! -f "$tarball" ]]; then
	log "fetching @ohif/app@${OHIF_VERSION} (about 50 MB) with npm pack"
	tmp="$(mktemp -d "${dir}/pack.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "@ohif/app@${OHIF_VERSION}" >/dev/null) ||
		die "npm pack @ohif/app@${OHIF_VERSION} failed (is the npm registry reachable?)"
	mv "$tmp/ohif-app-${OHIF_VERSION}.tgz" "$tarball"
fi

# npm's integrity is "sha512-" and the base64 of the tarball's SHA-512.
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$got" != "$OHIF_INTEGRITY" ]]; then
	rm -f "$tarball"
	die "@ohif/app@${OHIF_VERSION} tarball has integrity ${got}, want ${OHIF_INTEGRITY}; removed it"
fi

log "unpacking dist/ into ${dir}"
unpack="$(mktemp -d "${dir}/unpack.XXXXXX")"
tar -xzf "$tarball" -C "$unpack" package/dist package/LICENSE
[[ -f "$unpack/package/dist/index.html" ]] || die "the tarball has no dist/index.html"
rm -rf "$dist"
mv "$unpack/package/dist" "$dist"
mv "$unpack/package/LICENSE" "${dir}/LICENSE"
rm -rf "$unpack"
printf '%s' "$OHIF_INTEGRITY" >"$stamp"
log "OHIF ${OHIF_VERSION} ready"
printf '%s\n' "$dist"
