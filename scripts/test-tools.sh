#!/usr/bin/env bash
# Installs the command-line tools the tests use besides the services:
#   pdftoppm (poppler-utils)  rasterises the report PDFs to prove they render
#   Orthanc (orthanc) and its DICOMweb plugin (orthanc-dicomweb)
#                             internal/dicomweb's interop test starts a private
#                             Orthanc and pushes/pulls studies with its
#                             DICOMweb client (STOW-RS, WADO-RS)
#   dcmdump (dcmtk)           reads an instance WADO-RS returned and the
#                             generated VL Photographic images
#   dciodvfy (dicom3tools)    validates the generated VL Photographic and
#                             Dermoscopic Photography images against the IODs
#   chromium, fonts-liberation
#                             the browser tests (internal/browsertest) drive
#                             Debian's headless Chromium with chromedp; the
#                             fonts give pages and screenshots real glyphs
# and then fetches the pinned OHIF viewer with scripts/ohif.sh (quick when it
# is cached), which internal/web/viewer's browser test opens.
# As root it installs them with apt-get; otherwise it says what is missing
# and fails. (Outside CI a test whose tool is missing skips with a message;
# under CI=true it fails, so this script must have installed everything.)
#
# Installing the orthanc package must not leave a system Orthanc running
# (Debian's starts one with a DICOM server on all interfaces): when no
# policy-rc.d is in place, one that forbids starting services is put in for
# the time of the install and removed after.
set -euo pipefail

missing=()
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
[[ -x /usr/sbin/Orthanc ]] || missing+=(orthanc)
[[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]] || missing+=(orthanc-dicomweb)
command -v dcmdump >/dev/null 2>&1 || missing+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[[ -d /usr/share/fonts/truetype/liberation ]] || missing+=(fonts-liberation)

# fetch_ohif: the viewer build; under CI=true not having it is a failure.
fetch_ohif() {
	if ! "$(dirname "${BASH_SOURCE[0]}")/ohif.sh" >/dev/null; then
		if [[ "${CI:-}" == "true" ]]; then
			echo "scripts/ohif.sh could not fetch the OHIF viewer (required under CI=true)" >&2
			exit 1
		fi
		echo "OHIF viewer not fetched: its browser test will skip (run scripts/ohif.sh)" >&2
	fi
}

if ((${#missing[@]} == 0)); then
	fetch_ohif
	exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "test tools missing: install ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "installing test tools: ${missing[*]}" >&2
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# scripts/test-tools.sh: no service starts during its apt-get install\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
{
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
} >&2 || {
	echo "apt-get install ${missing[*]} failed" >&2
	exit 1
}
fetch_ohif
