#!/usr/bin/env bash
# Local PostgreSQL 15 and MinIO for teleread development, tests and CI.
#
#   scripts/services.sh up       start (or reuse) both services, wait until they
#                                answer, then print the environment (as `env`)
#   scripts/services.sh env      print `export TELEREAD_...=...` lines:
#                                  eval "$(scripts/services.sh env)"
#   scripts/services.sh status   say, for each service: running / not running / external
#   scripts/services.sh down     stop what this script started (never an external service)
#   scripts/services.sh reset    down, then delete all local service data (.data/)
#
# PostgreSQL runs with fsync, synchronous_commit and full_page_writes off
# (disposable data); TELEREAD_PG_DURABLE=1 at `up` starts it with
# PostgreSQL's production defaults instead (stop it first with `down`).
#
# External services: if TELEREAD_DATABASE_URL (or TELEREAD_S3_ENDPOINT) is set
# and answers, it is used and nothing is started for it.
#
# State lives in <repo>/.data/ (git-ignored): credentials and ports in
# postgres.env / minio.env (mode 600), logs in postgres.log / minio.log, pid
# files, the PostgreSQL cluster in .data/postgres and MinIO's drive in
# .data/minio. When run as root, PostgreSQL runs as the `postgres` OS user; if
# that user cannot reach the repository folder (a clone under /root, say), the
# cluster lives in /var/tmp/teleread-pg-<hash of repo path>/ instead and
# postgres.env records where.
#
# The MinIO server is built once from source with `go install` into a cache
# shared by every clone on the machine:
#   ${TELEREAD_TOOLS_DIR:-$HOME/.cache/teleread/tools}/minio-<version>/minio
#
# A private set (fault drills, the clinical-loop drill, the scale-out and
# backup tests start their own, to stop and wipe without touching the shared
# one):
#   TELEREAD_DATA_DIR=/some/dir  state there instead of <repo>/.data
#   TELEREAD_PG_PORT_FIRST, TELEREAD_MINIO_PORT_FIRST
#                                the first ports tried (55432, 59000)
#   TELEREAD_MINIO_DRIVES=4      MinIO in erasure-coded mode on that many
#                                drives (<data>/minio/d1 ... d4), as MinIO
#                                documents for a single node; 1 by default
#   up postgres|minio, down postgres|minio
#                                start or stop only that one
#
# Messages go to stderr, so stdout of `up` and `env` stays eval-able.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DATA="${TELEREAD_DATA_DIR:-${ROOT}/.data}"

PG_STATE="${DATA}/postgres.env"
PG_PORT_FIRST=${TELEREAD_PG_PORT_FIRST:-55432}
PG_USER=teleread
PG_DB=teleread

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_STATE="${DATA}/minio.env"
MINIO_PIDFILE="${DATA}/minio.pid"
MINIO_LOG="${DATA}/minio.log"
MINIO_DRIVE="${DATA}/minio"
MINIO_PORT_FIRST=${TELEREAD_MINIO_PORT_FIRST:-59000}
MINIO_DRIVES=${TELEREAD_MINIO_DRIVES:-1}

S3_BUCKET="${TELEREAD_S3_BUCKET:-teleread}"

# ---------------------------------------------------------------- helpers --

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: error: %s\n' "$*" >&2
	exit 1
}

is_root() { [[ "$(id -u)" == 0 ]]; }

home_dir() {
	if [[ -n "${HOME:-}" ]]; then
		printf '%s\n' "$HOME"
	else
		getent passwd "$(id -u)" | cut -d: -f6
	fi
}

tools_dir() { printf '%s\n' "${TELEREAD_TOOLS_DIR:-$(home_dir)/.cache/teleread/tools}"; }
minio_bin() { printf '%s/minio-%s/minio\n' "$(tools_dir)" "$MINIO_VERSION"; }

# random_hex N: N random bytes as 2N hex digits (URL-safe, no pipes to break).
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# shell_quote STRING: single-quoted for POSIX sh eval.
shell_quote() {
	local s=${1//\'/\'\\\'\'}
	printf "'%s'" "$s"
}

# write_state FILE KEY=VALUE...: a sourceable file only the owner can read.
write_state() {
	local file=$1 kv
	shift
	(
		umask 077
		: >"${file}.tmp"
		for kv in "$@"; do
			printf '%s=%s\n' "${kv%%=*}" "$(shell_quote "${kv#*=}")" >>"${file}.tmp"
		done
	)
	chmod 600 "${file}.tmp"
	mv -f "${file}.tmp" "$file"
}

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT or has it bound.
port_in_use() {
	local port=$1
	if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
		return 0
	fi
	if command -v ss >/dev/null 2>&1 && [[ -n "$(ss -Htln "sport = :${port}" 2>/dev/null)" ]]; then
		return 0
	fi
	return 1
}

# free_port FIRST [EXCLUDE]: the first port from FIRST on that is free.
free_port() {
	local port=$1 exclude=${2:-}
	while ((port < 65535)); do
		if [[ "$port" != "$exclude" ]] && ! port_in_use "$port"; then
			printf '%s\n' "$port"
			return 0
		fi
		port=$((port + 1))
	done
	die "no free TCP port on 127.0.0.1 from $1 on"
}

# http_ok URL: the URL answers 2xx within a few seconds.
http_ok() {
	local url=$1
	if command -v curl >/dev/null 2>&1; then
		curl -sf -o /dev/null --max-time 3 "$url"
		return
	fi
	# Fallback without curl: plain HTTP/1.0 over bash's /dev/tcp.
	local rest=${url#http://} hostport path status
	[[ "$url" == http://* ]] || return 1
	hostport=${rest%%/*}
	path=/${rest#*/}
	(
		exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
		IFS= read -r -t 3 status <&3 || exit 1
		[[ "$status" == *" 2"[0-9][0-9]* ]]
	) 2>/dev/null
}

# proc_matches PID NEEDLE...: PID is alive and its command line contains every NEEDLE.
proc_matches() {
	local pid=$1 cmdline needle
	shift
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/${pid}/cmdline" ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null) || return 1
	for needle in "$@"; do
		[[ "$cmdline" == *"$needle"* ]] || return 1
	done
}

find_go() {
	local g
	for g in "${GO:-}" go /usr/local/go/bin/go; do
		[[ -n "$g" ]] || continue
		if command -v "$g" >/dev/null 2>&1; then
			command -v "$g"
			return 0
		fi
	done
	return 1
}

ensure_data_dir() {
	if [[ ! -d "$DATA" ]]; then
		# 755: when root, the postgres OS user must be able to pass through it.
		mkdir -p "$DATA"
		chmod 755 "$DATA"
	fi
}

# lock_data_dir: one up/down/reset at a time per clone (descriptor 8, closed
# for the servers we start so they do not inherit the lock).
lock_data_dir() {
	ensure_data_dir
	exec 8>"${DATA}/.lock"
	if ! flock -n 8; then
		log "waiting for another scripts/services.sh up/down in this clone"
		flock -w 600 8 || die "timed out waiting for the lock ${DATA}/.lock"
	fi
}

# --------------------------------------------------------------- postgres --

PG_BIN=""
PG_BASE=""   # folder holding the cluster, its socket folder and its log
PG_PORT=""
PG_PASSWORD=""

pg_data() { printf '%s/postgres\n' "$PG_BASE"; }
pg_sock() { printf '%s/postgres-run\n' "$PG_BASE"; }
pg_log() { printf '%s/postgres.log\n' "$PG_BASE"; }
pg_url() {
	printf 'postgres://%s:%s@127.0.0.1:%s/%s?sslmode=disable\n' "$PG_USER" "$PG_PASSWORD" "$PG_PORT" "$PG_DB"
}

pg_load_state() {
	[[ -f "$PG_STATE" ]] || return 1
	# shellcheck disable=SC1090
	source "$PG_STATE"
	PG_BASE=${PG_BASE:-$DATA}
	[[ -n "${PG_PORT:-}" && -n "${PG_PASSWORD:-}" ]]
}

pg_save_state() {
	write_state "$PG_STATE" "PG_BASE=${PG_BASE}" "PG_PORT=${PG_PORT}" "PG_PASSWORD=${PG_PASSWORD}"
}

# find_pg_bin: sets PG_BIN to a folder with initdb, pg_ctl and postgres.
find_pg_bin() {
	local d candidates=("${TELEREAD_PG_BIN:-}" /usr/lib/postgresql/15/bin)
	if command -v pg_ctl >/dev/null 2>&1; then
		candidates+=("$(dirname "$(readlink -f "$(command -v pg_ctl)")")")
	fi
	for d in "${candidates[@]}"; do
		if [[ -n "$d" && -x "${d}/initdb" && -x "${d}/pg_ctl" && -x "${d}/postgres" ]]; then
			PG_BIN=$d
			return 0
		fi
	done
	return 1
}

ensure_pg_bin() {
	find_pg_bin && return 0
	if ! is_root; then
		die "PostgreSQL 15 server programs (initdb, pg_ctl) not found: install them (Debian/Ubuntu: sudo apt-get install postgresql-15), or set TELEREAD_DATABASE_URL to a running server"
	fi
	log "PostgreSQL 15 not found: installing postgresql-15 with apt-get"
	{
		apt-get update &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15
	} >&2 || die "apt-get install postgresql-15 failed"
	find_pg_bin || die "postgresql-15 installed but initdb/pg_ctl not found in /usr/lib/postgresql/15/bin"
}

psql_bin() {
	if [[ -n "$PG_BIN" && -x "${PG_BIN}/psql" ]]; then
		printf '%s\n' "${PG_BIN}/psql"
	elif command -v psql >/dev/null 2>&1; then
		command -v psql
	elif [[ -x /usr/lib/postgresql/15/bin/psql ]]; then
		printf '%s\n' /usr/lib/postgresql/15/bin/psql
	else
		return 1
	fi
}

# as_pg CMD...: run a PostgreSQL server program as the cluster's owner.
# The lock descriptors 8 and 9 are closed so a started server does not hold them.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@" 8>&- 9>&-)
	else
		"$@" 8>&- 9>&-
	fi
}

# db_answers URL: a real query succeeds (checks credentials too, not just the port).
db_answers() {
	local url=$1 psql
	if psql=$(psql_bin); then
		PGCONNECT_TIMEOUT=3 "$psql" "$url" -XAtqc 'select 1' >/dev/null 2>&1
	elif command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -t 3 -d "$url" >/dev/null 2>&1
	else
		die "cannot check TELEREAD_DATABASE_URL: neither psql nor pg_isready is installed (apt-get install postgresql-client-15)"
	fi
}

# pg_choose_base: where the cluster goes the first time.
pg_choose_base() {
	PG_BASE=$DATA
	if is_root && ! runuser -u postgres -- test -x "$DATA" 2>/dev/null; then
		PG_BASE="/var/tmp/teleread-pg-$(printf '%s' "${TELEREAD_DATA_DIR:-$ROOT}" | sha256sum | cut -c1-12)"
		log "note: the postgres OS user cannot reach ${DATA} (a parent folder is private),"
		log "      so the cluster lives in ${PG_BASE} (recorded in ${PG_STATE})"
	fi
	# Unix socket paths are limited to ~107 bytes.
	if ((${#PG_BASE} > 70)); then
		PG_BASE="/var/tmp/teleread-pg-$(printf '%s' "${TELEREAD_DATA_DIR:-$ROOT}" | sha256sum | cut -c1-12)"
		log "note: repository path too long for a Unix socket; the cluster lives in ${PG_BASE}"
	fi
}

# pg_pid: print the postmaster pid when our cluster is running.
pg_pid() {
	local pidfile pid
	pidfile="$(pg_data)/postmaster.pid"
	[[ -f "$pidfile" ]] || return 1
	pid=$(head -n1 "$pidfile" 2>/dev/null) || return 1
	proc_matches "$pid" postgres "$(pg_data)" || return 1
	printf '%s\n' "$pid"
}

# pg_discard_orphan: a cluster left without its credentials file (a fresh clone
# at a path used before, with the cluster in /var/tmp; or a deleted
# postgres.env) cannot be logged into: stop it and start again from scratch.
pg_discard_orphan() {
	local pid
	[[ -e "$(pg_data)" || -e "$(pg_sock)" ]] || return 0
	if pid=$(pg_pid); then
		log "stopping postgres (pid ${pid}) of a cluster whose credentials are gone"
		as_pg "${PG_BIN}/pg_ctl" stop -w -t 60 -m fast -D "$(pg_data)" >&2 || true
	fi
	log "discarding $(pg_data): its credentials file ${PG_STATE} is gone"
	rm -rf "$(pg_data)" "$(pg_sock)" "$(pg_log)"
}

pg_init() {
	local data sock logf pwfile
	data=$(pg_data)
	sock=$(pg_sock)
	logf=$(pg_log)
	[[ -f "${data}/PG_VERSION" ]] && return 0

	log "initialising PostgreSQL cluster in ${data}"
	# A half-done earlier initdb leaves a non-empty folder initdb refuses.
	rm -rf "$data"
	mkdir -p "$PG_BASE" "$data" "$sock"
	chmod 700 "$data" "$sock"
	touch "$logf"
	chmod 600 "$logf"
	pwfile="${sock}/.initdb-pw"
	(umask 077 && printf '%s\n' "$PG_PASSWORD" >"$pwfile")
	if is_root; then
		if [[ "$PG_BASE" != "$DATA" ]]; then
			chown postgres: "$PG_BASE"
			chmod 700 "$PG_BASE"
		fi
		chown -R postgres: "$data" "$sock" "$logf"
	fi
	if [[ "$PG_BASE" != "$DATA" ]]; then
		ln -sfn "$logf" "${DATA}/postgres.log"
	fi
	if ! as_pg "${PG_BIN}/initdb" -D "$data" -U "$PG_USER" --pwfile="$pwfile" \
		--auth-host=scram-sha-256 --auth-local=scram-sha-256 \
		--encoding=UTF8 --no-locale --no-instructions >&2; then
		rm -f "$pwfile"
		die "initdb failed (see above)"
	fi
	rm -f "$pwfile"
}

pg_start() {
	local data
	data=$(pg_data)
	if pg_pid >/dev/null; then
		log "postgres already running (pid $(pg_pid), 127.0.0.1:${PG_PORT})"
		return 0
	fi
	if [[ -f "${data}/postmaster.pid" ]]; then
		# Its pid is gone or now belongs to another program (common after a
		# machine or container restart): postgres would refuse to start.
		log "removing stale ${data}/postmaster.pid"
		rm -f "${data}/postmaster.pid"
	fi
	if port_in_use "$PG_PORT"; then
		local old=$PG_PORT
		PG_PORT=$(free_port "$PG_PORT_FIRST")
		log "port ${old} is taken by another program; postgres moves to ${PG_PORT}"
		pg_save_state
	fi
	# fsync off: this is disposable development/test data and it makes tests
	# faster. TELEREAD_PG_DURABLE=1 keeps PostgreSQL's production defaults
	# (fsync, synchronous_commit and full_page_writes on), for benchmarks.
	local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	if [[ "${TELEREAD_PG_DURABLE:-}" == 1 ]]; then
		durability=""
		log "starting postgres with production durability (fsync, synchronous_commit, full_page_writes on)"
	fi
	# The port was free when chosen, but another program (often an outgoing
	# connection given that port by the kernel) can take it before postgres
	# binds: then move to the next free port and try again.
	local attempt
	for attempt in 1 2 3 4 5; do
		log "starting postgres on 127.0.0.1:${PG_PORT} (log: $(pg_log))"
		local seen=0
		[[ -f "$(pg_log)" ]] && seen=$(wc -l <"$(pg_log)")
		if as_pg "${PG_BIN}/pg_ctl" start -w -t 60 -D "$data" -l "$(pg_log)" \
			-o "-p ${PG_PORT} -c listen_addresses=127.0.0.1 -k '$(pg_sock)' ${durability}" \
			>&2; then
			return 0
		fi
		if ! tail -n +$((seen + 1)) "$(pg_log)" 2>/dev/null | grep -q "Address already in use"; then
			break
		fi
		local old=$PG_PORT
		PG_PORT=$(free_port $((PG_PORT + 1)))
		log "port ${old} was taken while postgres started; moving to ${PG_PORT} (attempt ${attempt})"
		pg_save_state
	done
	log "last lines of $(pg_log):"
	tail -n 25 "$(pg_log)" >&2 || true
	die "postgres did not start"
}

pg_ensure_db() {
	local psql exists
	psql=$(psql_bin) || die "psql not found (apt-get install postgresql-client-15)"
	exists=$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$psql" -X -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres \
		-Atqc "select 1 from pg_database where datname = '${PG_DB}'") || die "cannot connect to the local postgres"
	if [[ "$exists" != 1 ]]; then
		log "creating database ${PG_DB}"
		PGPASSWORD=$PG_PASSWORD "$psql" -X -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres \
			-qc "create database ${PG_DB}" >&2
	fi
}

# pg_mode: external | local (no side effects beyond reading state).
pg_mode() {
	local own=""
	if pg_load_state; then own=$(pg_url); fi
	if [[ -n "${TELEREAD_DATABASE_URL:-}" && "${TELEREAD_DATABASE_URL}" != "$own" ]]; then
		if db_answers "$TELEREAD_DATABASE_URL"; then
			echo external
			return 0
		fi
		log "warning: TELEREAD_DATABASE_URL is set but does not answer; using a local postgres instead"
	fi
	echo local
}

pg_up() {
	if [[ "$(pg_mode)" == external ]]; then
		log "postgres: using external TELEREAD_DATABASE_URL (nothing started)"
		return 0
	fi
	ensure_pg_bin
	if ! pg_load_state; then
		pg_choose_base
		pg_discard_orphan
		PG_PORT=$(free_port "$PG_PORT_FIRST")
		PG_PASSWORD=$(random_hex 24)
		pg_save_state
	fi
	pg_init
	pg_start
	pg_ensure_db
	db_answers "$(pg_url)" || die "postgres started but does not answer at 127.0.0.1:${PG_PORT}"
	log "postgres: ready on 127.0.0.1:${PG_PORT}"
}

pg_down() {
	pg_load_state || return 0
	local pid
	if pid=$(pg_pid); then
		find_pg_bin || die "postgres (pid ${pid}) is running but pg_ctl is not found"
		log "stopping postgres (pid ${pid})"
		as_pg "${PG_BIN}/pg_ctl" stop -w -t 60 -m fast -D "$(pg_data)" >&2
	fi
}

pg_status() {
	local pid
	if [[ "$(pg_mode)" == external ]]; then
		echo "postgres: external (TELEREAD_DATABASE_URL answers)"
		return 0
	fi
	if ! pg_load_state; then
		echo "postgres: not running (not set up yet)"
		return 1
	fi
	if pid=$(pg_pid); then
		echo "postgres: running (pid ${pid}, 127.0.0.1:${PG_PORT}, data $(pg_data))"
	else
		echo "postgres: not running (data $(pg_data))"
		return 1
	fi
}

# ------------------------------------------------------------------ minio --

MINIO_ROOT_USER=""
MINIO_ROOT_PASSWORD=""
MINIO_PORT=""
MINIO_CONSOLE_PORT=""

minio_load_state() {
	[[ -f "$MINIO_STATE" ]] || return 1
	# shellcheck disable=SC1090
	source "$MINIO_STATE"
	[[ -n "${MINIO_ROOT_USER:-}" && -n "${MINIO_ROOT_PASSWORD:-}" && -n "${MINIO_PORT:-}" && -n "${MINIO_CONSOLE_PORT:-}" ]]
}

minio_save_state() {
	write_state "$MINIO_STATE" "MINIO_ROOT_USER=${MINIO_ROOT_USER}" "MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD}" \
		"MINIO_PORT=${MINIO_PORT}" "MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT}"
}

minio_pid() {
	local pid
	[[ -f "$MINIO_PIDFILE" ]] || return 1
	pid=$(head -n1 "$MINIO_PIDFILE" 2>/dev/null) || return 1
	proc_matches "$pid" minio server "$MINIO_DRIVE" || return 1
	printf '%s\n' "$pid"
}

s3_scheme() {
	case "${TELEREAD_S3_USE_TLS:-false}" in
	true | TRUE | True | 1 | yes) echo https ;;
	*) echo http ;;
	esac
}

# minio_mode: external | local.
minio_mode() {
	local own=""
	if minio_load_state; then own="127.0.0.1:${MINIO_PORT}"; fi
	if [[ -n "${TELEREAD_S3_ENDPOINT:-}" && "${TELEREAD_S3_ENDPOINT}" != "$own" ]]; then
		if http_ok "$(s3_scheme)://${TELEREAD_S3_ENDPOINT}/minio/health/live"; then
			echo external
			return 0
		fi
		log "warning: TELEREAD_S3_ENDPOINT is set but does not answer; using a local MinIO instead"
	fi
	echo local
}

minio_build() {
	local bin dir go tmp started
	bin=$(minio_bin)
	[[ -x "$bin" ]] && return 0
	dir=$(dirname "$bin")
	mkdir -p "$dir"
	exec 9>"${dir}/.build.lock"
	if ! flock -n 9; then
		log "waiting for another MinIO build into ${dir}"
		flock -w 1800 9 || die "timed out waiting for the MinIO build lock ${dir}/.build.lock"
	fi
	if [[ ! -x "$bin" ]]; then
		go=$(find_go) || die "go not found (put it on PATH, e.g. /usr/local/go/bin, or set GO=/path/to/go): it is needed once to build MinIO"
		tmp=$(mktemp -d "${dir}/.build.XXXXXX")
		log "building MinIO ${MINIO_VERSION} from source, once per machine, into ${dir}"
		log "(several minutes on 2 cores with a cold Go build cache)"
		started=$SECONDS
		if ! (cd "$tmp" && GOBIN="$tmp" "$go" install "${MINIO_MODULE}@${MINIO_VERSION}") >&2; then
			rm -rf "$tmp"
			die "building MinIO failed: GOBIN=${dir} go install ${MINIO_MODULE}@${MINIO_VERSION}"
		fi
		mv -f "${tmp}/minio" "$bin"
		rm -rf "$tmp"
		log "MinIO built in $((SECONDS - started))s: ${bin}"
	fi
	exec 9>&-
}

minio_start() {
	local bin pid i waited=0
	if pid=$(minio_pid); then
		log "minio already running (pid ${pid}, 127.0.0.1:${MINIO_PORT})"
		return 0
	fi
	rm -f "$MINIO_PIDFILE"
	if port_in_use "$MINIO_PORT" || port_in_use "$MINIO_CONSOLE_PORT"; then
		MINIO_PORT=$(free_port "$MINIO_PORT_FIRST")
		MINIO_CONSOLE_PORT=$(free_port $((MINIO_PORT + 1)) "$MINIO_PORT")
		log "a recorded MinIO port is taken by another program; MinIO moves to ${MINIO_PORT}/${MINIO_CONSOLE_PORT}"
		minio_save_state
	fi
	bin=$(minio_bin)
	local drives=("$MINIO_DRIVE") ci_cd=""
	if ((MINIO_DRIVES > 1)); then
		# MinIO's own ellipsis notation: one erasure set over d1 ... dN.
		# Its drives here are folders of the root disk, which erasure-coded
		# MinIO refuses ("drive not found") unless MINIO_CI_CD is on.
		drives=("${MINIO_DRIVE}/d{1...${MINIO_DRIVES}}")
		ci_cd=on
		for ((i = 1; i <= MINIO_DRIVES; i++)); do mkdir -p "${MINIO_DRIVE}/d${i}"; done
	else
		mkdir -p "$MINIO_DRIVE"
	fi
	# As for postgres: a port free when chosen can be taken before MinIO
	# binds it; then move on and try again.
	local attempt seen
	for attempt in 1 2 3 4 5; do
		log "starting minio on 127.0.0.1:${MINIO_PORT}, console 127.0.0.1:${MINIO_CONSOLE_PORT} (log: ${MINIO_LOG})"
		printf '\n=== %s scripts/services.sh up\n' "$(date -u +%FT%TZ)" >>"$MINIO_LOG"
		seen=$(wc -l <"$MINIO_LOG")
		# setsid: own session, so a Ctrl-C in the calling terminal does not reach it.
		MINIO_ROOT_USER=$MINIO_ROOT_USER MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD MINIO_UPDATE=off MINIO_CI_CD=$ci_cd \
			setsid "$bin" server --address "127.0.0.1:${MINIO_PORT}" \
			--console-address "127.0.0.1:${MINIO_CONSOLE_PORT}" "${drives[@]}" \
			</dev/null >>"$MINIO_LOG" 2>&1 8>&- 9>&- &
		pid=$!
		printf '%s\n' "$pid" >"$MINIO_PIDFILE"
		waited=0
		# /minio/health/cluster: up with write quorum (an erasure-coded set
		# answers /live before it has formatted its drives).
		until http_ok "http://127.0.0.1:${MINIO_PORT}/minio/health/cluster"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				rm -f "$MINIO_PIDFILE"
				if ((attempt < 5)) && tail -n +$((seen + 1)) "$MINIO_LOG" | grep -qi "already in use"; then
					local old=$MINIO_PORT
					MINIO_PORT=$(free_port $((MINIO_PORT + 1)))
					MINIO_CONSOLE_PORT=$(free_port $((MINIO_PORT + 1)) "$MINIO_PORT")
					log "port ${old} was taken while minio started; moving to ${MINIO_PORT} (attempt ${attempt})"
					minio_save_state
					continue 2
				fi
				log "last lines of ${MINIO_LOG}:"
				tail -n 25 "$MINIO_LOG" >&2 || true
				die "minio exited during start-up"
			fi
			if ((waited >= 120)); then
				log "last lines of ${MINIO_LOG}:"
				tail -n 25 "$MINIO_LOG" >&2 || true
				die "minio (pid ${pid}) did not answer on 127.0.0.1:${MINIO_PORT}/minio/health/cluster (write quorum) within 60s"
			fi
			sleep 0.5
			waited=$((waited + 1))
		done
		return 0
	done
}

minio_up() {
	if [[ "$(minio_mode)" == external ]]; then
		log "minio: using external TELEREAD_S3_ENDPOINT (nothing started)"
		return 0
	fi
	minio_build
	if ! minio_load_state; then
		# A drive (or server) left without its credentials file: start afresh.
		minio_down
		if [[ -d "$MINIO_DRIVE" ]]; then
			log "discarding ${MINIO_DRIVE}: its credentials file ${MINIO_STATE} is gone"
			rm -rf "$MINIO_DRIVE"
		fi
		MINIO_ROOT_USER="teleread-$(random_hex 6)"
		MINIO_ROOT_PASSWORD=$(random_hex 20)
		MINIO_PORT=$(free_port "$MINIO_PORT_FIRST")
		MINIO_CONSOLE_PORT=$(free_port $((MINIO_PORT + 1)) "$MINIO_PORT")
		minio_save_state
	fi
	minio_start
	log "minio: ready on 127.0.0.1:${MINIO_PORT}"
}

minio_down() {
	local pid i
	minio_load_state || true
	if pid=$(minio_pid); then
		log "stopping minio (pid ${pid})"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "minio (pid ${pid}) ignored SIGTERM for 20s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$MINIO_PIDFILE"
}

minio_status() {
	local pid
	if [[ "$(minio_mode)" == external ]]; then
		echo "minio:    external (TELEREAD_S3_ENDPOINT ${TELEREAD_S3_ENDPOINT} answers)"
		return 0
	fi
	if ! minio_load_state; then
		echo "minio:    not running (not set up yet)"
		return 1
	fi
	if pid=$(minio_pid); then
		echo "minio:    running (pid ${pid}, 127.0.0.1:${MINIO_PORT}, console 127.0.0.1:${MINIO_CONSOLE_PORT}, data ${MINIO_DRIVE})"
	else
		echo "minio:    not running (data ${MINIO_DRIVE})"
		return 1
	fi
}

# ------------------------------------------------------------- commands --

print_export() { printf 'export %s=%s\n' "$1" "$(shell_quote "$2")"; }

cmd_env() {
	local url endpoint access secret tls=false pid
	if [[ "$(pg_mode)" == external ]]; then
		url=$TELEREAD_DATABASE_URL
	else
		pg_load_state || die "postgres is not set up: run scripts/services.sh up"
		pid=$(pg_pid) || log "warning: the local postgres is not running (scripts/services.sh up)"
		url=$(pg_url)
	fi
	if [[ "$(minio_mode)" == external ]]; then
		endpoint=$TELEREAD_S3_ENDPOINT
		access=${TELEREAD_S3_ACCESS_KEY:-}
		secret=${TELEREAD_S3_SECRET_KEY:-}
		tls=${TELEREAD_S3_USE_TLS:-false}
		[[ -n "$access" && -n "$secret" ]] ||
			log "warning: external TELEREAD_S3_ENDPOINT without TELEREAD_S3_ACCESS_KEY/TELEREAD_S3_SECRET_KEY"
	else
		minio_load_state || die "minio is not set up: run scripts/services.sh up"
		pid=$(minio_pid) || log "warning: the local minio is not running (scripts/services.sh up)"
		endpoint="127.0.0.1:${MINIO_PORT}"
		access=$MINIO_ROOT_USER
		secret=$MINIO_ROOT_PASSWORD
	fi
	: "${pid:=}"
	print_export TELEREAD_DATABASE_URL "$url"
	print_export TELEREAD_S3_ENDPOINT "$endpoint"
	print_export TELEREAD_S3_ACCESS_KEY "$access"
	print_export TELEREAD_S3_SECRET_KEY "$secret"
	print_export TELEREAD_S3_BUCKET "$S3_BUCKET"
	print_export TELEREAD_S3_USE_TLS "$tls"
	# The development key that seals webhook secrets at rest, made once in
	# .data (production sets its own: docs/operations.md, "Secrets").
	[[ -n "${TELEREAD_SECRET_KEY:-}" || -s "$DATA/secret.key" ]] ||
		(umask 077 && mkdir -p "$DATA" && head -c 32 /dev/urandom | base64 >"$DATA/secret.key")
	print_export TELEREAD_SECRET_KEY "${TELEREAD_SECRET_KEY:-$(cat "$DATA/secret.key")}"
}

cmd_up() {
	lock_data_dir
	case "${1:-}" in
	postgres) pg_up ;;
	minio) minio_up ;;
	"")
		pg_up
		minio_up
		;;
	*) die "up: unknown service ${1} (postgres or minio)" ;;
	esac
	cmd_env
}

cmd_down() {
	[[ -d "$DATA" ]] || return 0
	lock_data_dir
	case "${1:-}" in
	postgres) pg_down ;;
	minio) minio_down ;;
	"")
		pg_down
		minio_down
		;;
	*) die "down: unknown service ${1} (postgres or minio)" ;;
	esac
	log "stopped (external services, if any, were left alone)"
}

cmd_status() {
	local rc=0
	pg_status || rc=3
	minio_status || rc=3
	return "$rc"
}

cmd_reset() {
	[[ -d "$DATA" ]] || {
		log "nothing to reset"
		return 0
	}
	cmd_down
	PG_BASE=""
	pg_load_state || true
	if [[ -n "$PG_BASE" && "$PG_BASE" != "$DATA" && "$PG_BASE" == /var/tmp/teleread-pg-* ]]; then
		log "deleting ${PG_BASE}"
		rm -rf "$PG_BASE"
	fi
	log "deleting ${DATA}"
	rm -rf "$DATA"
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/services.sh up|down|status|env|reset
  up [postgres|minio]
          start (or reuse) PostgreSQL and MinIO (or only one), then print the environment
  env     print export lines: eval "$(scripts/services.sh env)"
  status  show what is running
  down [postgres|minio]
          stop what this script started (or only one of them)
  reset   down, then delete .data/ (all local service data)
EOF
}

main() {
	case "${1:-}" in
	up) cmd_up "${2:-}" ;;
	down) cmd_down "${2:-}" ;;
	status) cmd_status ;;
	env) cmd_env ;;
	reset) cmd_reset ;;
	-h | --help | help)
		usage
		;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"
