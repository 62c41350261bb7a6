#!/usr/bin/env bash
# Starts a throwaway OpenSSH sshd on 127.0.0.1:2222 for the full test suite
# (Debian, as root) and writes DIR/env for the sftp transport's tests:
#
#   scripts/sshd.sh [DIR]          # DIR defaults to /tmp/syndicate-sshd
#   set -a; . DIR/env; set +a
#   go test -run TestConformanceOpenSSH ./internal/transport/sftp/
#
# Safe to run again: keys are kept, the test root is emptied, and a previous
# sshd started from DIR is stopped first.
#
# The test suite's server allows SFTP only (ForceCommand internal-sftp).
# SSHD_COMMANDS=1 lets the user run commands too, as a stock OpenSSH server
# does, so that rclone can run md5sum/sha1sum on the server; scripts/bench.sh
# starts such a server in a DIR of its own on another port:
#
#   SSHD_PORT=2223 SSHD_COMMANDS=1 scripts/sshd.sh /tmp/syndicate-bench-sshd
set -euo pipefail

DIR=${1:-/tmp/syndicate-sshd}
PORT=${SSHD_PORT:-2222}
COMMANDS=${SSHD_COMMANDS:-0}
ADDR=127.0.0.1
USERNAME=syndicate
CONF=$DIR/sshd_config
PIDFILE=$DIR/sshd.pid
LOG=$DIR/sshd.log

if [[ $(id -u) -ne 0 ]]; then
	echo "sshd.sh: must run as root (creates a user and starts sshd)" >&2
	exit 1
fi

if [[ ! -x /usr/sbin/sshd ]]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server openssh-client
fi

# SYNDICATE_INSTALL_ONLY=1: install what is missing and stop here. The full
# suite installs on the machine's network, then starts the server inside a
# network namespace that has only lo (scripts/test-all.sh).
[[ -z ${SYNDICATE_INSTALL_ONLY:-} ]] || exit 0

mkdir -p "$DIR" /run/sshd
chmod 755 "$DIR" # sshd reads authorized_keys as the user
chmod 755 /run/sshd

# Two host keys, like a stock Debian sshd: the tests pin the ed25519 one, as
# an operator would after `ssh` showed it, and x/crypto alone prefers ECDSA.
[[ -f $DIR/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C syndicate-test-host -f "$DIR/host_ed25519"
[[ -f $DIR/host_ecdsa ]] || ssh-keygen -q -t ecdsa -N '' -C syndicate-test-host -f "$DIR/host_ecdsa"
[[ -f $DIR/client_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C syndicate-test-client -f "$DIR/client_ed25519"
chmod 600 "$DIR/host_ed25519" "$DIR/host_ecdsa" "$DIR/client_ed25519" # root, who runs go test, reads the client key

id "$USERNAME" >/dev/null 2>&1 || useradd -m -s /bin/bash "$USERNAME"
usermod -p '*' "$USERNAME" # a locked ("!") account is refused with UsePAM no

install -m 644 "$DIR/client_ed25519.pub" "$DIR/authorized_keys"
rm -rf "$DIR/root"
install -d -m 755 -o "$USERNAME" -g "$USERNAME" "$DIR/root"

cat >"$CONF" <<EOF
Port $PORT
ListenAddress $ADDR
HostKey $DIR/host_ed25519
HostKey $DIR/host_ecdsa
PidFile $PIDFILE
AuthorizedKeysFile $DIR/authorized_keys
AllowUsers $USERNAME
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
DisableForwarding yes
Subsystem sftp internal-sftp
EOF
if [[ $COMMANDS != 1 ]]; then
	echo "ForceCommand internal-sftp" >>"$CONF"
fi
/usr/sbin/sshd -t -f "$CONF"

# Stop the sshd a previous run started, and only that one.
if [[ -f $PIDFILE ]]; then
	pid=$(cat "$PIDFILE")
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sshd ]]; then
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$PIDFILE"
fi

/usr/sbin/sshd -f "$CONF" -E "$LOG"

up=
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
		up=1
		break
	fi
	sleep 0.1
done
if [[ -z $up ]]; then
	echo "sshd.sh: sshd did not start listening on $ADDR:$PORT; see $LOG" >&2
	tail -n 20 "$LOG" >&2 || true
	exit 1
fi

fingerprint=$(ssh-keygen -lf "$DIR/host_ed25519.pub" -E sha256 | awk '{print $2}')
{
	printf 'export SYNDICATE_TEST_SSHD_ADDR=%q\n' "$ADDR:$PORT"
	printf 'export SYNDICATE_TEST_SSHD_USER=%q\n' "$USERNAME"
	printf 'export SYNDICATE_TEST_SSHD_KEY=%q\n' "$DIR/client_ed25519"
	printf 'export SYNDICATE_TEST_SSHD_HOSTKEY=%q\n' "$fingerprint"
	printf 'export SYNDICATE_TEST_SSHD_ROOT=%q\n' "$DIR/root"
} >"$DIR/env"
echo "sshd.sh: sshd on $ADDR:$PORT (pid $(cat "$PIDFILE")); source $DIR/env"
