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
if ((${#missing[@]} == 0)); then
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
