#!/usr/bin/env bash
# The whole test suite: `go test ./...` plus the real peers it needs.
#
#   bash scripts/test-all.sh
#
# Starts (installing on a bare Debian, as root, if missing) a PostgreSQL on
# 127.0.0.1:5432, a throwaway OpenSSH sshd on 127.0.0.1:2222, vsftpd (FTP and
# FTPS) on 127.0.0.1:2121, versitygw (S3) on 127.0.0.1:7070, nginx WebDAV
# (HTTP) on 127.0.0.1:8088 and NATS with
# JetStream on 127.0.0.1:4222 (if not already running), then runs
# every package's tests with SYNDICATE_FULL=1, which turns "server missing"
# from a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
# xmllint validates the adi11 format's output against the ADI 1.1 DTD.
# ffmpeg/ffprobe read renditions and transcode video (internal/video).
apt_updated=
need() { # need COMMAND PACKAGE: install PACKAGE from Debian unless COMMAND exists
	command -v "$1" >/dev/null && return
	[ -n "$apt_updated" ] || { apt-get update; apt_updated=1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$2"
}
need xmllint libxml2-utils
need ffmpeg ffmpeg

pg_ready() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! pg_ready; then
	echo "test-all: PostgreSQL not running on 127.0.0.1:5432; starting it"
	if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
	fi
	ver=$(ls /etc/postgresql | sort -V | tail -n 1)
	hba=/etc/postgresql/$ver/main/pg_hba.conf
	# Loopback-only trust, as on the project's machines.
	grep -q '^host all all 127.0.0.1/32 trust' "$hba" || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
	pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster "$ver" main start
	for _ in $(seq 100); do pg_ready && break; sleep 0.2; done
	su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\"" | grep -q 1 ||
		su postgres -c "psql -c 'CREATE ROLE root SUPERUSER LOGIN'"
	su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 ||
		su postgres -c "createdb -O root test"
fi

bash scripts/sshd.sh /tmp/syndicate-sshd >/dev/null
set -a
. /tmp/syndicate-sshd/env
set +a
bash scripts/versitygw.sh /tmp/syndicate-versitygw >/dev/null
set -a
. /tmp/syndicate-versitygw/env
set +a
bash scripts/vsftpd.sh /tmp/syndicate-vsftpd >/dev/null
set -a
. /tmp/syndicate-vsftpd/env
set +a
bash scripts/webdav.sh /tmp/syndicate-webdav >/dev/null
set -a
. /tmp/syndicate-webdav/env
set +a
# Headless Chromium for the web UI's browser tests (internal/ui).
if [ ! -x /usr/bin/chromium ]; then
	echo "test-all: installing chromium for the browser tests"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
# NATS JetStream (event sinks, queue consumers); the project's machines run one.
nats_ready() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_ready; then
	echo "test-all: NATS not running on 127.0.0.1:4222; starting it"
	command -v nats-server >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server; }
	mkdir -p /tmp/syndicate-nats
	nohup nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/syndicate-nats >/tmp/syndicate-nats/log 2>&1 &
	for _ in $(seq 100); do nats_ready && break; sleep 0.2; done
fi
export SYNDICATE_FULL=1

go vet ./...
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
