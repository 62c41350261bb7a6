#!/usr/bin/env bash
# Delivery speed, side by side with rclone, on this machine (Debian, as
# root): builds rclone once into a cache outside the repo, makes sure the
# test servers the project's scripts provide are up, and runs `syndicate
# bench transfer` for each protocol.
#
#   bash scripts/bench.sh                  # local, sftp, and s3/ftp where their scripts exist
#   bash scripts/bench.sh sftp             # only these protocols
#   BENCH_SIZE=10GiB BENCH_RUNS=1 bash scripts/bench.sh sftp
#   BENCH_ARCHIVE=tar bash scripts/bench.sh sftp   # one tar built while uploading
#   BENCH_ARGS="--rtt 20ms" bash scripts/bench.sh sftp   # both sides 20 ms away (delay proxy)
#
# Figures are medians of BENCH_RUNS (default 3) runs of a BENCH_SIZE (default
# 1GiB) random file; compare the ratios, not the absolute rates, across
# machines. See docs/benchmarks.md.
#
# SFTP runs against an sshd of its own (port 2223, /tmp/syndicate-bench-sshd)
# that, like a stock OpenSSH server, lets the user run commands: rclone's
# default then checks md5 on both sides (it runs md5sum on the server). The
# test suite's sshd allows SFTP only, where rclone's default would silently
# check nothing.
#
# S3 runs against a versitygw of its own (port 7071, /tmp/syndicate-bench-versitygw)
# that keeps its objects in memory (/dev/shm) when there is room for two
# copies of the upload: versitygw assembles a multipart upload by copying
# every part into a new file, and on this VM's disk that copy, caught in
# the writeback of earlier runs, took 2 to 3.7 s per GiB and varied 2x
# from run to run. AWS S3 completes an upload without copying the data.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

RCLONE_VERSION=${RCLONE_VERSION:-v1.76.0}
CACHE=${SYNDICATE_CACHE:-/var/cache/syndicate}
RCLONE=$CACHE/bin/rclone
SIZE=${BENCH_SIZE:-1GiB}
RUNS=${BENCH_RUNS:-3}
ARCHIVE=${BENCH_ARCHIVE:-}
BENCH_SSHD=${BENCH_SSHD:-/tmp/syndicate-bench-sshd}
BENCH_S3=${BENCH_S3:-/tmp/syndicate-bench-versitygw}

# rclone is built from source with the Go toolchain (about 12 minutes on two
# cores; `go install` stamps it "vX.Y.Z-DEV") and kept outside the repo; it
# is never committed.
if ! "$RCLONE" version 2>/dev/null | head -n 1 | grep -Eqx "rclone ${RCLONE_VERSION//./\\.}(-DEV)?"; then
	echo "bench.sh: building rclone $RCLONE_VERSION into $CACHE/bin (takes a few minutes)"
	mkdir -p "$CACHE/bin"
	# From outside the module, so nothing here touches go.mod.
	(cd / && GOBIN=$CACHE/bin GOFLAGS=-mod=mod go install "github.com/rclone/rclone@$RCLONE_VERSION")
fi

if (($# > 0)); then
	protocols=("$@")
else
	protocols=(local sftp)
	[[ -f scripts/versitygw.sh ]] && protocols+=(s3)
	[[ -f scripts/vsftpd.sh ]] && protocols+=(ftp)
	[[ -f scripts/webdav.sh ]] && protocols+=(http)
fi

# answers ADDR: something listens at host:port (a URL's scheme and path are
# ignored).
answers() {
	local a=${1#*://}
	a=${a%%/*}
	[[ $a == *:* ]] && (exec 3<>"/dev/tcp/${a%:*}/${a##*:}") 2>/dev/null
}

# server SCRIPT ENVFILE VAR: reuse the server SCRIPT started earlier if its
# env file names an address that answers, else start it. Starting again
# would wipe its data under whoever else is using it (the test suite).
server() {
	local script=$1 envfile=$2 var=$3
	if [[ -f $envfile ]] && answers "$(. "$envfile" && eval "echo \"\${$var:-}\"")"; then
		return 0
	fi
	[[ -f $script ]] || {
		echo "bench.sh: $script is not in this tree" >&2
		return 1
	}
	bash "$script" >/dev/null
}

# bytes SIZE: SIZE as `bench transfer --size` takes it (1GiB, 1.5GiB, 1GB,
# 4k, 2 MiB, 1048576) in bytes, through coreutils' numfmt (k as 1000: near
# enough for a room check); empty if it cannot tell.
bytes() {
	local s=${1// /}
	s=${s%B}
	numfmt --from=auto "${s/k/K}" 2>/dev/null || true
}

# Built once for all protocols (go run would build it again for each).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/syndicate" ./cmd/syndicate

echo "bench.sh: $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB memory, $(go version | cut -d' ' -f3)"
status=0
for p in "${protocols[@]}"; do
	case $p in
	sftp)
		if ! { [[ -f $BENCH_SSHD/env ]] && answers "$(. "$BENCH_SSHD/env" && echo "$SYNDICATE_TEST_SSHD_ADDR")"; }; then
			SSHD_PORT=2223 SSHD_COMMANDS=1 bash scripts/sshd.sh "$BENCH_SSHD" >/dev/null || { status=1; continue; }
		fi
		# The bench reads its default target from the environment first.
		set -a
		# shellcheck disable=SC1091
		. "$BENCH_SSHD/env"
		set +a
		;;
	s3)
		if ! { [[ -f $BENCH_S3/env ]] && answers "$(. "$BENCH_S3/env" && echo "$SYNDICATE_TEST_S3_ENDPOINT")"; }; then
			data=$BENCH_S3/data
			size=$(bytes "$SIZE")
			if [[ -n $size && -d /dev/shm ]] && (($(df -B1 --output=avail /dev/shm | tail -n 1) > size * 5 / 2)); then
				data=/dev/shm/syndicate-bench-s3
			else
				echo "bench.sh: s3: no room in /dev/shm for $SIZE twice (or a size numfmt cannot read); the S3 server keeps its objects on disk"
			fi
			S3_PORT=7071 S3_DATA=$data bash scripts/versitygw.sh "$BENCH_S3" >/dev/null || { status=1; continue; }
		fi
		set -a
		# shellcheck disable=SC1091
		. "$BENCH_S3/env"
		set +a
		echo "bench.sh: s3: versitygw keeps its objects in $(tr '\0' ' ' <"/proc/$(cat "$BENCH_S3/versitygw.pid")/cmdline" | sed 's/.* posix //')"
		;;
	ftp) server scripts/vsftpd.sh /tmp/syndicate-vsftpd/env SYNDICATE_TEST_VSFTPD_ADDR || { status=1; continue; } ;;
	http) server scripts/webdav.sh /tmp/syndicate-webdav/env SYNDICATE_TEST_WEBDAV_URL || { status=1; continue; } ;;
	esac
	echo "bench.sh: $p: $(uptime)"
	# Another http server: BENCH_ARGS="--target https://... --secret env:NAME".
	# shellcheck disable=SC2086
	"$tmp/syndicate" bench transfer --protocol "$p" --size "$SIZE" --runs "$RUNS" ${ARCHIVE:+--archive "$ARCHIVE"} \
		--rclone "$RCLONE" ${BENCH_ARGS:-} || status=1
done
exit $status
