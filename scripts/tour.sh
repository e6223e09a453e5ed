#!/usr/bin/env bash
# A tour of Teleread from intake to the acknowledged report, against a
# server started with `make run` (demo data). Needs curl and jq.
#
#   scripts/tour.sh            # API at http://127.0.0.1:8080
#   API=http://host:port scripts/tour.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BASE=${API:-http://127.0.0.1:8080}
API="$BASE/api/v1"
step() { printf '\n== %s\n' "$*" >&2; }

step "demo logins (bin/teleread seed --demo issues fresh tokens)"
eval "$(scripts/services.sh env 2>/dev/null)"
[[ -x bin/teleread ]] || go build -o bin/teleread ./cmd/teleread
bin/teleread seed --demo >/tmp/teleread-demo.json
token() { jq -r --arg r "$1" --arg m "${2:-}" '.users[] | select(.role==$r and (.email|contains($m))) | .token' /tmp/teleread-demo.json; }
STAFF=$(token site_staff)
GP_ID=$(jq -r '.users[] | select(.role=="referring_physician") | .user_id' /tmp/teleread-demo.json)
GP=$(token referring_physician)
RAD=$(token specialist rad)
ADMIN=$(token platform_admin)
call() { # call TOKEN METHOD PATH [JSON]
	local args=(-sS -X "$2" -H "Authorization: Bearer $1")
	[[ $# -ge 4 ]] && args+=(-H 'Content-Type: application/json' -d "$4")
	curl "${args[@]}" "$API$3"
}

step "readiness"
curl -sS "$BASE/readyz" | jq -c .

step "platform admin: radiology cases go to the demo radiology group"
RAD_GROUP=$(call "$ADMIN" GET '/orgs?kind=reading_group' | jq -r '.items[] | select(.slug=="demo-rad") | .id')
call "$ADMIN" POST /routing-rules '{"name":"all radiology","specialty":"radiology","reading_group_id":"'"$RAD_GROUP"'","is_default":true}' |
	jq -c '{id, name, reading_group_id, code, detail}'

step "site staff: a case"
CASE=$(call "$STAFF" POST /cases '{
  "referring_physician_id": "'"$GP_ID"'", "specialty": "radiology", "priority": "urgent",
  "patient": {"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
  "clinical_question": "Fracture after a fall?", "history": "Fell on an outstretched hand."}' | jq -r .id)
echo "case $CASE"

step "site staff: a folder of DICOM in one streamed multipart request"
args=()
for f in internal/intake/testdata/dicomdir/77654033/CT2/*; do args+=(-F "file=@$f"); done
# (On a second run these instances are already part of the first run's case:
# each DICOM instance belongs to one case of a site, so they are refused.)
curl -sS -H "Authorization: Bearer $STAFF" "${args[@]}" "$API/cases/$CASE/files" |
	jq -c '(.files // .details)[] | {filename, status, reason, warnings: [.file.warnings[]?.code]}'

step "site staff: a photo (EXIF and GPS stripped before storage; quality checks come back as warnings)"
curl -sS -H "Authorization: Bearer $STAFF" -F 'body_site=left wrist' -F file=@internal/intake/testdata/retina.jpg \
	"$API/cases/$CASE/files" | jq -c '(.files // .details)[] | {filename, status, warnings: [.file.warnings[]?.code]}'

step "site staff: a file that is not DICOM is refused, with a reason"
curl -sS -H "Authorization: Bearer $STAFF" -F file=@README.md "$API/cases/$CASE/files" | jq -c '{status, detail, files: .details}'

step "site staff: the study as indexed, then submit"
call "$STAFF" GET "/cases/$CASE/studies" | jq -c '.items[]? // .'
call "$STAFF" POST "/cases/$CASE/submit" | jq -c '{status, submitted_at}'

step "routing (a River job) puts it on the radiology worklist"
for _ in $(seq 50); do
	[[ $(call "$STAFF" GET "/cases/$CASE" | jq -r .status) == routed ]] && break
	sleep 0.2
done
call "$RAD" GET /worklist | jq -c '{counts, total, first: (.items[0] | {case_id, priority, due_at, modalities})}'

step "specialist: claim, draft, sign"
call "$RAD" POST "/cases/$CASE/claim" | jq -c '{status, assigned_to, claim_expires_at}'
call "$RAD" PUT "/cases/$CASE/report" '{"findings":"Undisplaced fracture of the distal radius.",
  "impression":"Distal radius fracture.","diagnoses":[{"text":"Fracture of lower end of radius","system":"ICD-10","code":"S52.5"}],
  "recommendations":"Orthopaedic referral.","follow_up_interval":"P6W","critical":false}' | jq -c '{status, version}'
REPORT=$(call "$RAD" POST "/cases/$CASE/report/sign" | jq -r .id)
echo "report $REPORT"

step "referring physician: the inbox, the report, its PDF and FHIR form, acknowledge"
for _ in $(seq 50); do
	[[ $(call "$GP" GET /inbox | jq -r --arg r "$REPORT" '[.items[] | select(.report_id==$r)] | length') == 1 ]] && break
	sleep 0.2
done
call "$GP" GET /inbox | jq -c '.items[0] | {report_id, status, critical, unread}'
call "$GP" GET "/reports/$REPORT" | jq -c '{status, impression, signatures: [.signatures[].signer_name]}'
curl -sS -H "Authorization: Bearer $GP" -o /tmp/teleread-report.pdf "$API/reports/$REPORT/pdf" && echo "PDF: /tmp/teleread-report.pdf ($(wc -c </tmp/teleread-report.pdf) bytes)"
call "$GP" GET "/reports/$REPORT/fhir" | jq -c '{resourceType, status, conclusion}'
call "$GP" POST "/reports/$REPORT/acknowledge" | jq -c '{case_status, acknowledged_at}'

step "the case timeline"
call "$STAFF" GET "/cases/$CASE/events" | jq -r '.items[] | "\(.at)  \(.kind)  \(.to_status // "")"'

step "who read what (audit), and the chain verifies"
call "$ADMIN" GET "/audit?object_id=$CASE&limit=20" | jq -r '.items[] | "\(.at)  \(.action)"'
bin/teleread audit verify
