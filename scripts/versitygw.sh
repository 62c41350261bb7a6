#!/usr/bin/env bash
# Starts a throwaway versitygw S3 server on 127.0.0.1:7070 for the full test
# suite (Debian, as root) and writes DIR/env for the s3 transport's tests:
#
#   scripts/versitygw.sh [DIR]     # DIR defaults to /tmp/syndicate-versitygw
#   set -a; . DIR/env; set +a
#   go test -run Versity ./internal/transport/s3/    # or the whole package
#
# versitygw (Apache-2.0) is built once into /var/cache/syndicate/bin, about
# 2.5 minutes on 2 cores. Its posix backend keeps each bucket as a directory
# under DIR/data and each object as a plain file in it; the root account
# may use a bucket directory created by hand (it has no ACL, and the root
# account needs none).
#
# Safe to run again: a previous server started from DIR is stopped, the data
# is wiped, and new random keys are made.
#
#   S3_PORT=7071 S3_DATA=/dev/shm/syndicate-bench-s3 scripts/versitygw.sh /tmp/syndicate-bench-versitygw
#
# starts another one (the bench's) on another port, its objects kept in
# S3_DATA (default DIR/data).
set -euo pipefail

DIR=${1:-/tmp/syndicate-versitygw}
ADDR=127.0.0.1
PORT=${S3_PORT:-7070}
DATA=${S3_DATA:-$DIR/data}
VERSION=v1.8.0
BIN_DIR=/var/cache/syndicate/bin
BIN=$BIN_DIR/versitygw
BUCKET=syndicate-test
PIDFILE=$DIR/versitygw.pid
LOG=$DIR/versitygw.log
export PATH=$PATH:/usr/local/go/bin

if [[ $(id -u) -ne 0 ]]; then
	echo "versitygw.sh: must run as root (caches the binary in $BIN_DIR)" >&2
	exit 1
fi

if [[ ! -x $BIN ]]; then
	echo "versitygw.sh: building versitygw $VERSION into $BIN_DIR (a few minutes)" >&2
	mkdir -p "$BIN_DIR"
	GOBIN=$BIN_DIR go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
fi

# SYNDICATE_INSTALL_ONLY=1: install what is missing and stop here. The full
# suite installs on the machine's network, then starts the server inside a
# network namespace that has only lo (scripts/test-all.sh).
[[ -z ${SYNDICATE_INSTALL_ONLY:-} ]] || exit 0

mkdir -p "$DIR"
chmod 700 "$DIR"

# Stop the server a previous run started, and only that one.
if [[ -f $PIDFILE ]]; then
	pid=$(cat "$PIDFILE")
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == versitygw ]]; then
		kill "$pid"
		for _ in $(seq 100); do # it shuts down gracefully, which takes a second or two
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$PIDFILE"
fi

if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
	echo "versitygw.sh: something else already listens on $ADDR:$PORT" >&2
	exit 1
fi

# Every subdirectory of the root is a bucket, so keep nothing else there.
rm -rf "$DATA"
mkdir -p "$DATA/$BUCKET"

# Random keys for each run; the env file is the only copy.
access=SYN$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
secret=$(head -c 30 /dev/urandom | base64 | tr -d '\n=')
umask 077
{
	printf 'export SYNDICATE_TEST_S3_ENDPOINT=%q\n' "http://$ADDR:$PORT"
	printf 'export SYNDICATE_TEST_S3_ACCESS_KEY=%q\n' "$access"
	printf 'export SYNDICATE_TEST_S3_SECRET_KEY=%q\n' "$secret"
	printf 'export SYNDICATE_TEST_S3_BUCKET=%q\n' "$BUCKET"
} >"$DIR/env"
chmod 600 "$DIR/env"

# Keys go in the environment, not the command line, where ps would show them.
ROOT_ACCESS_KEY=$access ROOT_SECRET_KEY=$secret \
	setsid "$BIN" --port "$ADDR:$PORT" posix "$DATA" >"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

up=
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
	sleep 0.1
done
if [[ -z $up ]]; then
	echo "versitygw.sh: versitygw did not start listening on $ADDR:$PORT; see $LOG" >&2
	tail -n 20 "$LOG" >&2 || true
	exit 1
fi
echo "versitygw.sh: versitygw on $ADDR:$PORT (pid $(cat "$PIDFILE")), bucket $BUCKET; source $DIR/env"
