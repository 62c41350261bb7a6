#!/usr/bin/env bash
# Starts a throwaway Pure-FTPd 1.0.50 (Debian's pure-ftpd) on 127.0.0.1:2141
# for the full test suite (Debian 12, as root), speaking plain FTP and
# explicit FTPS (-Y 1) on one port, with one virtual user in a PureDB:
#
#   scripts/pureftpd.sh [DIR]       # DIR defaults to /tmp/syndicate-pureftpd
#   set -a; . DIR/env; set +a
#   go test -run Pureftpd ./internal/transport/ftp/
#
# The ftp-server packages conflict (vsftpd, proftpd-core, pure-ftpd: one at
# a time), so the packages are unpacked into DIR/pkg with dpkg -x and the
# daemon runs from there with its options on the command line: no
# maintainer scripts, no inetd, no systemd, no pure-ftpd-wrapper. It binds
# 127.0.0.1 only, never looks names up (-H), and uses passive ports
# 30300-30399.
#
# pure-pw hashes with argon2id by default, which takes more than 10 s of
# CPU per login on 2 cores (and made logins time out); the PureDB here
# holds a SHA-512 crypt hash instead.
#
# Safe to run again: the password and certificate are kept, the test root
# is emptied, and a server a previous run started from DIR is stopped first.
set -euo pipefail

DIR=${1:-/tmp/syndicate-pureftpd}
ADDR=127.0.0.1
PORT=2141
USERNAME=synpure
PKG=$DIR/pkg
PIDFILE=$DIR/pure-ftpd.pid

if [[ $(id -u) -ne 0 ]]; then
	echo "pureftpd.sh: must run as root (creates a user, binds ports, switches to the user)" >&2
	exit 1
fi

mkdir -p "$DIR"
chmod 755 "$DIR"

libs=(libsodium23 libssl3 libcap2 libcrypt1 libpam0g)
need=()
for p in "${libs[@]}" openssl; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if ((${#need[@]})); then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
if [[ ! -x $PKG/usr/sbin/pure-ftpd || ! -x $PKG/usr/bin/pure-pw ]]; then
	rm -rf "$DIR/debs" "$PKG"
	mkdir -p "$DIR/debs" "$PKG"
	chmod 777 "$DIR/debs" # apt-get download writes as the _apt user where it can
	(cd "$DIR/debs" && apt-get download pure-ftpd pure-ftpd-common) ||
		{ apt-get update && (cd "$DIR/debs" && apt-get download pure-ftpd pure-ftpd-common); }
	for deb in "$DIR"/debs/*.deb; do
		dpkg -x "$deb" "$PKG"
	done
fi
# SYNDICATE_INSTALL_ONLY=1: install what is missing and stop here (the full
# suite's stage 1; the server then starts in its network namespace).
[[ -z ${SYNDICATE_INSTALL_ONLY:-} ]] || exit 0
PUREFTPD=$PKG/usr/sbin/pure-ftpd

if ! id "$USERNAME" >/dev/null 2>&1; then
	useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$USERNAME"
fi
uid=$(id -u "$USERNAME")
gid=$(id -g "$USERNAME")

if [[ ! -s $DIR/password ]]; then
	(umask 077 && openssl rand -hex 16 >"$DIR/password")
fi
chmod 600 "$DIR/password"
if [[ ! -f $DIR/cert.pem || ! -f $DIR/key.pem ]]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
fi
chmod 600 "$DIR/key.pem"
# Pure-FTPd reads key and certificate from one file.
(umask 077 && cat "$DIR/key.pem" "$DIR/cert.pem" >"$DIR/pure-ftpd.pem")

# The chroot (the home, "/./" in the PureDB) is root's; the tests write
# below files/, as with vsftpd.
install -d -m 755 -o root -g root "$DIR/home"
rm -rf "$DIR/home/files"
install -d -m 755 -o "$USERNAME" -g "$gid" "$DIR/home/files"

# pure-pw's text format: user:hash:uid:gid:gecos:home, then 12 limits left
# empty. mkdb turns it into the PureDB the daemon reads.
hash=$(openssl passwd -6 -stdin <"$DIR/password")
(umask 077 && printf '%s:%s:%s:%s::%s/./::::::::::::\n' "$USERNAME" "$hash" "$uid" "$gid" "$DIR/home" >"$DIR/pureftpd.passwd")
"$PKG/usr/bin/pure-pw" mkdb "$DIR/pureftpd.pdb" -f "$DIR/pureftpd.passwd"

# Stop the pure-ftpd a previous run started, and only that one.
if [[ -f $PIDFILE ]]; then
	pid=$(cat "$PIDFILE")
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == pure-ftpd ]]; then
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$PIDFILE"
fi

# -S bind address,port; -l the PureDB only; -E no anonymous; -A chroot;
# -H no reverse lookups; -4 IPv4 only; -p passive ports; -P the passive
# address announced; -Y 1 TLS optional; -2 key+certificate; -u 1 lets the
# system user's uid log in; -f none no syslog; -O the transfer log.
# Without -B it stays in the foreground, so its PID is known.
nohup setsid "$PUREFTPD" -S "$ADDR,$PORT" -l "puredb:$DIR/pureftpd.pdb" -E -A -H -4 \
	-p 30300:30399 -P "$ADDR" -Y 1 -2 "$DIR/pure-ftpd.pem" -u 1 -f none \
	-O "clf:$DIR/transfer.log" -c 50 -C 20 \
	</dev/null >>"$DIR/stderr.log" 2>&1 &
echo $! >"$PIDFILE"

up=
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
		up=1
		break
	fi
	sleep 0.1
done
if [[ -z $up ]]; then
	echo "pureftpd.sh: pure-ftpd did not start listening on $ADDR:$PORT; see $DIR/stderr.log" >&2
	tail -n 20 "$DIR/stderr.log" >&2 || true
	exit 1
fi

pin=SHA256:$(openssl x509 -in "$DIR/cert.pem" -outform der | openssl dgst -sha256 -binary | base64)
{
	printf 'export SYNDICATE_TEST_PUREFTPD_ADDR=%q\n' "$ADDR:$PORT"
	printf 'export SYNDICATE_TEST_PUREFTPD_USER=%q\n' "$USERNAME"
	printf 'export SYNDICATE_TEST_PUREFTPD_PASSWORD_FILE=%q\n' "$DIR/password"
	printf 'export SYNDICATE_TEST_PUREFTPD_ROOT=%q\n' /files
	printf 'export SYNDICATE_TEST_PUREFTPD_FILES=%q\n' "$DIR/home/files"
	printf 'export SYNDICATE_TEST_PUREFTPD_CERT_PIN=%q\n' "$pin"
} >"$DIR/env"
echo "pureftpd.sh: Pure-FTPd on $ADDR:$PORT (pid $(cat "$PIDFILE")); source $DIR/env"
