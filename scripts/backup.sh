#!/usr/bin/env bash
# Back up and restore a Teleread installation: the PostgreSQL database
# (pg_dump, custom format) and the object storage bucket (MinIO's client,
# `mc mirror`). docs/operations.md, "Backup and restore", says what it
# covers; internal/drill's TestBackupRestore runs exactly these commands.
#
#   scripts/backup.sh backup  DIR   dump the database to DIR/teleread.pgdump, then mirror
#                                   the bucket to DIR/objects/ (DIR is created; it must be empty)
#   scripts/backup.sh restore DIR   restore DIR into an EMPTY database (create it first:
#                                   createdb, or CREATE DATABASE) and mirror DIR/objects/ into
#                                   the bucket (made if missing)
#   scripts/backup.sh verify        check the restored installation: `teleread audit verify`,
#                                   and every file's object against its SHA-256 in the files table
#
# Configuration is the server's own environment: TELEREAD_DATABASE_URL,
# TELEREAD_S3_ENDPOINT, TELEREAD_S3_ACCESS_KEY, TELEREAD_S3_SECRET_KEY,
# TELEREAD_S3_BUCKET (default teleread), TELEREAD_S3_USE_TLS. Tools:
# pg_dump / pg_restore / psql of the server's major version (PATH), mc
# (TELEREAD_MC, else mc on PATH, else built once with `go install` into
# ${TELEREAD_TOOLS_DIR:-~/.cache/teleread/tools}/mc-<version>/ like
# services.sh builds MinIO), and teleread for verify (TELEREAD_BIN, else
# bin/teleread, else teleread on PATH).
#
# Not in the backup: TELEREAD_SECRET_KEY (webhook secrets in the dump are
# sealed with it: keep it in your secret store), and the configuration.
set -euo pipefail

MC_MODULE=github.com/minio/mc
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9

log() { printf 'backup.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need_env() {
	[[ -n "${TELEREAD_DATABASE_URL:-}" ]] || die "TELEREAD_DATABASE_URL is not set"
	[[ -n "${TELEREAD_S3_ENDPOINT:-}" ]] || die "TELEREAD_S3_ENDPOINT is not set"
	[[ -n "${TELEREAD_S3_ACCESS_KEY:-}" && -n "${TELEREAD_S3_SECRET_KEY:-}" ]] ||
		die "TELEREAD_S3_ACCESS_KEY and TELEREAD_S3_SECRET_KEY must be set"
	BUCKET="${TELEREAD_S3_BUCKET:-teleread}"
}

home_dir() { printf '%s\n' "${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"; }

# mc_bin prints the mc to use, building the pinned one if there is none.
mc_bin() {
	if [[ -n "${TELEREAD_MC:-}" ]]; then
		printf '%s\n' "$TELEREAD_MC"
		return
	fi
	if command -v mc >/dev/null 2>&1 && mc --version 2>/dev/null | grep -q MinIO; then
		command -v mc
		return
	fi
	local dir bin tmp
	dir="${TELEREAD_TOOLS_DIR:-$(home_dir)/.cache/teleread/tools}/mc-${MC_VERSION}"
	bin="${dir}/mc"
	if [[ ! -x "$bin" ]]; then
		mkdir -p "$dir"
		exec 8>"${dir}/.build.lock"
		flock -w 1800 8 || die "timed out waiting for the mc build lock ${dir}/.build.lock"
		if [[ ! -x "$bin" ]]; then
			command -v go >/dev/null 2>&1 || die "mc not found and go not on PATH to build it (or set TELEREAD_MC)"
			log "building mc ${MC_VERSION} once into ${dir} (a minute or two)"
			tmp=$(mktemp -d "${dir}/.build.XXXXXX")
			(cd "$tmp" && GOBIN="$tmp" go install "${MC_MODULE}@${MC_VERSION}") >&2 || { rm -rf "$tmp"; die "building mc failed"; }
			mv -f "${tmp}/mc" "$bin"
			rm -rf "$tmp"
		fi
		exec 8>&-
	fi
	printf '%s\n' "$bin"
}

# run_mc runs mc with the alias "teleread" pointing at the bucket's server,
# from the environment (MC_HOST_<alias>), with a throw-away config folder.
run_mc() {
	local scheme=http
	[[ "${TELEREAD_S3_USE_TLS:-false}" == "true" ]] && scheme=https
	local enc_access enc_secret
	enc_access=$(urlencode "$TELEREAD_S3_ACCESS_KEY")
	enc_secret=$(urlencode "$TELEREAD_S3_SECRET_KEY")
	MC_HOST_teleread="${scheme}://${enc_access}:${enc_secret}@${TELEREAD_S3_ENDPOINT}" \
		MC_CONFIG_DIR="$MC_CONFIG" "$MC" --quiet --no-color --disable-pager "$@"
}

urlencode() {
	local s="$1" out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c="${s:i:1}"
		case "$c" in
		[a-zA-Z0-9.~_-]) out+="$c" ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s\n' "$out"
}

setup_mc() {
	MC=$(mc_bin)
	MC_CONFIG=$(mktemp -d)
	trap 'rm -rf "$MC_CONFIG"' EXIT
}

cmd_backup() {
	local dir="$1"
	need_env
	if [[ -e "$dir" && -n "$(ls -A "$dir" 2>/dev/null)" ]]; then
		die "${dir} is not empty: back up into a new folder"
	fi
	mkdir -p "${dir}/objects"
	setup_mc
	# The dump first, then the objects: an object is written before the
	# row that names it commits, and files' objects are never rewritten,
	# so every object the dump refers to is in the mirror taken after it.
	log "pg_dump → ${dir}/teleread.pgdump"
	pg_dump --format=custom --no-owner --no-privileges --file "${dir}/teleread.pgdump" "$TELEREAD_DATABASE_URL"
	log "mc mirror teleread/${BUCKET} → ${dir}/objects/"
	run_mc mirror "teleread/${BUCKET}" "${dir}/objects/" | tail -n 4 >&2
	local n
	n=$(find "${dir}/objects" -type f | wc -l)
	{
		printf 'created_at=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'bucket=%s\n' "$BUCKET"
		printf 'objects=%s\n' "$n"
		printf 'pg_dump=%s\n' "$(pg_dump --version)"
	} >"${dir}/backup.info"
	log "backed up: database and ${n} objects in ${dir}"
}

cmd_restore() {
	local dir="$1"
	need_env
	[[ -f "${dir}/teleread.pgdump" && -d "${dir}/objects" ]] || die "${dir} holds no backup (teleread.pgdump, objects/)"
	local tables
	tables=$(psql "$TELEREAD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 \
		-c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
	[[ "$tables" == "0" ]] || die "the database already has ${tables} tables: restore into an empty database"
	setup_mc
	log "pg_restore ${dir}/teleread.pgdump"
	pg_restore --exit-on-error --no-owner --no-privileges --single-transaction \
		--dbname "$TELEREAD_DATABASE_URL" "${dir}/teleread.pgdump"
	log "mc mirror ${dir}/objects/ → teleread/${BUCKET}"
	run_mc mb --ignore-existing "teleread/${BUCKET}" >&2
	run_mc mirror "${dir}/objects/" "teleread/${BUCKET}" | tail -n 4 >&2
	log "restored; check it with: scripts/backup.sh verify"
}

teleread_bin() {
	if [[ -n "${TELEREAD_BIN:-}" ]]; then
		printf '%s\n' "$TELEREAD_BIN"
	elif [[ -x "$(dirname "$0")/../bin/teleread" ]]; then
		printf '%s\n' "$(dirname "$0")/../bin/teleread"
	else
		command -v teleread || die "teleread not found: set TELEREAD_BIN"
	fi
}

cmd_verify() {
	need_env
	setup_mc
	"$(teleread_bin)" audit verify
	local n=0 bad=0 key want got
	while IFS='|' read -r key want; do
		[[ -n "$key" ]] || continue
		n=$((n + 1))
		got=$(run_mc cat "teleread/${BUCKET}/${key}" </dev/null 2>/dev/null | sha256sum | cut -d' ' -f1) || got=""
		if [[ "$got" != "$want" ]]; then
			bad=$((bad + 1))
			log "MISMATCH ${key}: want ${want}, got ${got:-nothing}"
		fi
	done < <(psql "$TELEREAD_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -F '|' \
		-c "SELECT blob_key, stored_sha256 FROM files ORDER BY blob_key")
	if ((bad > 0)); then
		die "${bad} of ${n} files do not match their SHA-256"
	fi
	echo "files intact: ${n} objects match their SHA-256"
}

case "${1:-}" in
backup)
	[[ $# -eq 2 ]] || die "usage: scripts/backup.sh backup DIR"
	cmd_backup "$2"
	;;
restore)
	[[ $# -eq 2 ]] || die "usage: scripts/backup.sh restore DIR"
	cmd_restore "$2"
	;;
verify)
	[[ $# -eq 1 ]] || die "usage: scripts/backup.sh verify"
	cmd_verify
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
