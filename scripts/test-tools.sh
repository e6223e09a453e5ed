#!/usr/bin/env bash
# Installs the command-line tools the tests use besides the services:
# pdftoppm (poppler-utils) rasterises the report PDFs to prove they render.
# As root it installs them with apt-get; otherwise it says what is missing.
set -euo pipefail

missing=()
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "test tools missing: install ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "installing test tools: ${missing[*]}" >&2
{
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
} >&2 || {
	echo "apt-get install ${missing[*]} failed" >&2
	exit 1
}
