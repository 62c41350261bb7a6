#!/usr/bin/env bash
# The whole test suite: `go test ./...` plus the real peers it needs.
#
#   bash scripts/test-all.sh
#
# It runs in two stages, so that no test can send a packet off loopback:
#
#  1. On the machine's network: install what is missing (as root, on a bare
#     Debian: PostgreSQL, OpenSSH sshd, vsftpd, ProFTPD, Pure-FTPd, nginx
#     WebDAV, Apache mod_dav, NATS,
#     Chromium, ffmpeg, strace; versitygw is built once into
#     /var/cache/syndicate/bin), download the Go modules and build every
#     package and test binary.
#  2. In a new network namespace that has only lo (`unshare --net`): start
#     every server there on 127.0.0.1 — a throwaway PostgreSQL cluster on
#     5432, NATS JetStream on 4222, sshd on 2222, vsftpd (FTP and FTPS) on
#     2121, ProFTPD on 2131 (Debian defaults: no resume) and 2132
#     (AllowStoreRestart on), Pure-FTPd on 2141, versitygw (S3) on 7070,
#     nginx WebDAV on 8088, Apache mod_dav on 8090 — and run every
#     package's tests with SYNDICATE_FULL=1 (a missing server fails instead
#     of skipping) and GOPROXY=off, then the fuzz targets. Anything that
#     tries to reach another address fails at once with "network is
#     unreachable"; internal/hermetic also records and names such attempts.
#
# SYNDICATE_NETNS=off runs stage 2 on the machine's own network instead
# (for a machine where unshare is not allowed); it then uses a PostgreSQL
# and a NATS already listening on 127.0.0.1 if there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

# The servers the suite starts in stage 2, each with its folder.
servers=(sshd versitygw vsftpd proftpd pureftpd webdav apache-dav)

if [[ ${1:-} != --inside ]]; then
	# ---- stage 1: install and build, on the machine's network ----------
	apt_updated=
	need() { # need COMMAND PACKAGE...: install PACKAGEs from Debian unless COMMAND exists
		local cmd=$1
		shift
		command -v "$cmd" >/dev/null && return
		[ -n "$apt_updated" ] || { apt-get update; apt_updated=1; }
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
	}
	# xmllint validates the adi11 format's output against the ADI 1.1 DTD.
	# ffmpeg/ffprobe read renditions and transcode video (internal/video).
	need xmllint libxml2-utils
	need ffmpeg ffmpeg
	need chromium chromium # the web UI's browser tests (internal/ui)
	need strace strace     # internal/hermetic traces the browser test and the demo
	need ip iproute2       # brings lo up in the namespace
	need unshare util-linux
	need nats-server nats-server
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		[ -n "$apt_updated" ] || { apt-get update; apt_updated=1; }
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
	fi
	for s in "${servers[@]}"; do
		SYNDICATE_INSTALL_ONLY=1 bash "scripts/$s.sh" "/tmp/syndicate-$s"
	done
	go mod download
	go vet ./...
	# Compile every test binary now (into the build cache), so stage 2
	# needs neither the network nor much time before the first test.
	go test -count=1 -run '^$' ./... >/dev/null

	if [[ ${SYNDICATE_NETNS:-on} == off ]]; then
		echo "test-all: SYNDICATE_NETNS=off: tests run on the machine's own network" >&2
		exec bash "$0" --inside
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "test-all: the full suite needs root (it starts servers in a network namespace); SYNDICATE_NETNS=off runs it without the namespace" >&2
		exit 1
	fi
	exec unshare --net -- env SYNDICATE_NETNS_ACTIVE=1 bash "$0" --inside
fi

# ---- stage 2: the servers and the tests, in the namespace ----------------
if [[ -n ${SYNDICATE_NETNS_ACTIVE:-} ]]; then
	ip link set lo up
	# Stop every process this run started in the namespace when it ends,
	# so no server outlives the suite.
	cleanup() {
		local me ns p
		me=$$
		ns=$(readlink /proc/self/ns/net)
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			[[ $p == "$me" ]] && continue
			[[ $(readlink "/proc/$p/ns/net" 2>/dev/null) == "$ns" ]] || continue
			kill "$p" 2>/dev/null || true
		done
	}
	trap cleanup EXIT
fi
export GOPROXY=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL: a throwaway cluster of its own (trust auth on 127.0.0.1,
# roles postgres and root, databases test and root, as on the project's
# machines). fsync is off: the tests kill Syndicate, never PostgreSQL.
if ! listening 5432; then
	pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	pgdir=/tmp/syndicate-postgres
	rm -rf "$pgdir"
	install -d -o postgres -g postgres "$pgdir"
	runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres --no-sync >"$pgdir/initdb.log"
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p 5432 -k $pgdir -c fsync=off -c max_connections=200" start >/dev/null
	psql() { command psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
	psql -c 'CREATE ROLE root SUPERUSER LOGIN'
	psql -c 'CREATE DATABASE test OWNER root'
	psql -c 'CREATE DATABASE root OWNER root'
fi

# NATS JetStream (event sinks, queue consumers).
if ! listening 4222; then
	rm -rf /tmp/syndicate-nats
	mkdir -p /tmp/syndicate-nats
	nohup setsid nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/syndicate-nats </dev/null >/tmp/syndicate-nats/log 2>&1 &
	for _ in $(seq 100); do listening 4222 && break; sleep 0.2; done
fi

for s in "${servers[@]}"; do
	bash "scripts/$s.sh" "/tmp/syndicate-$s" >/dev/null
	set -a
	. "/tmp/syndicate-$s/env"
	set +a
done
export SYNDICATE_FULL=1

go test -count=1 -timeout 20m ./...
# Fuzz targets, each for a bounded number of executions (bad input must be
# refused, never panic). Counts, not durations: with a duration, Go 1.26's
# fuzz coordinator can report "context deadline exceeded" as a failure when
# the time runs out (golang/go#75804, fixed in Go 1.27), with no crasher.
# The counts take 1-15 s each on the project's 2-core machine; FUZZ_SCALE
# multiplies them.
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "$(($3 * ${FUZZ_SCALE:-1}))x" "$1"; }
fuzz ./internal/format/template FuzzTemplate 150000
fuzz ./internal/format/csv FuzzCSV 150000
fuzz ./internal/imaging FuzzDerive 5000
fuzz ./internal/subtitle FuzzParseSRT 300000
# Notification and batch parsing: no panic, every refusal a typed error.
fuzz ./internal/intake FuzzNotification 10000
fuzz ./internal/intake FuzzBatch 40000
