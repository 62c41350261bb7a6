#!/usr/bin/env bash
# Starts a throwaway vsftpd on 127.0.0.1:2121 for the full test suite
# (Debian, as root), speaking plain FTP and explicit FTPS (AUTH TLS) on the
# same port, and writes DIR/env for the ftp transport's tests:
#
#   scripts/vsftpd.sh [DIR]        # DIR defaults to /tmp/syndicate-vsftpd
#   set -a; . DIR/env; set +a
#   go test -run Vsftpd ./internal/transport/ftp/
#
# Safe to run again: the password and certificate are kept, the test root is
# emptied, and a previous vsftpd started from DIR is stopped first.
set -euo pipefail

DIR=${1:-/tmp/syndicate-vsftpd}
PORT=2121
ADDR=127.0.0.1
USERNAME=synftp
CONF=$DIR/vsftpd.conf
PIDFILE=$DIR/vsftpd.pid
LOG=$DIR/vsftpd.log

if [[ $(id -u) -ne 0 ]]; then
	echo "vsftpd.sh: must run as root (creates a user and starts vsftpd)" >&2
	exit 1
fi

# vsftpd, pure-ftpd and proftpd conflict (one ftp-server package at a time):
# on a machine with another one, apt-get would remove it for vsftpd.
pkgs=()
[[ -x /usr/sbin/vsftpd ]] || pkgs+=(vsftpd)
command -v openssl >/dev/null || pkgs+=(openssl)
if ((${#pkgs[@]})); then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
fi

# SYNDICATE_INSTALL_ONLY=1: install what is missing and stop here. The full
# suite installs on the machine's network, then starts the server inside a
# network namespace that has only lo (scripts/test-all.sh).
[[ -z ${SYNDICATE_INSTALL_ONLY:-} ]] || exit 0

mkdir -p "$DIR" /var/run/vsftpd/empty
chmod 755 "$DIR"

# The user logs in through PAM (pam_service_name=vsftpd), whose Debian
# config requires a shell listed in /etc/shells.
grep -qx /bin/bash /etc/shells || echo /bin/bash >>/etc/shells
if ! id "$USERNAME" >/dev/null 2>&1; then
	useradd -M -d "$DIR/home" -s /bin/bash "$USERNAME"
elif [[ $(getent passwd "$USERNAME" | cut -d: -f6,7) != "$DIR/home:/bin/bash" ]]; then
	usermod -d "$DIR/home" -s /bin/bash "$USERNAME"
fi
if [[ ! -s $DIR/password ]]; then
	(umask 077 && openssl rand -hex 16 >"$DIR/password")
fi
chmod 600 "$DIR/password"
echo "$USERNAME:$(cat "$DIR/password")" | chpasswd

if [[ ! -f $DIR/cert.pem || ! -f $DIR/key.pem ]]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
fi
chmod 600 "$DIR/key.pem"

# The chroot (the home) must not be writable by the user, or vsftpd refuses
# the login; the tests write below files/.
install -d -m 755 -o root -g root "$DIR/home"
rm -rf "$DIR/home/files"
install -d -m 755 -o "$USERNAME" -g "$USERNAME" "$DIR/home/files"

# force_local_*_ssl=NO: plain FTP and explicit FTPS on one port.
# ssl_tlsv1=NO: no TLS 1.0 (1.2 is what the transport speaks).
cat >"$CONF" <<EOF
listen=YES
listen_ipv6=NO
listen_address=$ADDR
listen_port=$PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
pasv_enable=YES
pasv_min_port=30000
pasv_max_port=30100
pasv_address=127.0.0.1
seccomp_sandbox=NO
ssl_enable=YES
allow_anon_ssl=NO
force_local_logins_ssl=NO
force_local_data_ssl=NO
rsa_cert_file=$DIR/cert.pem
rsa_private_key_file=$DIR/key.pem
require_ssl_reuse=NO
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=NO
xferlog_enable=YES
vsftpd_log_file=$LOG
EOF

# Stop the vsftpd a previous run started, and only that one.
if [[ -f $PIDFILE ]]; then
	pid=$(cat "$PIDFILE")
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == vsftpd ]]; then
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$PIDFILE"
fi

# background=NO keeps vsftpd in the foreground, so its PID is known; its
# own session and output away from the caller's terminal and pipes.
nohup setsid /usr/sbin/vsftpd "$CONF" </dev/null >>"$DIR/stderr.log" 2>&1 &
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
	echo "vsftpd.sh: vsftpd did not start listening on $ADDR:$PORT; see $DIR/stderr.log and $LOG" >&2
	tail -n 20 "$DIR/stderr.log" >&2 || true
	exit 1
fi

pin=SHA256:$(openssl x509 -in "$DIR/cert.pem" -outform der | openssl dgst -sha256 -binary | base64)
{
	printf 'export SYNDICATE_TEST_VSFTPD_ADDR=%q\n' "$ADDR:$PORT"
	printf 'export SYNDICATE_TEST_VSFTPD_USER=%q\n' "$USERNAME"
	printf 'export SYNDICATE_TEST_VSFTPD_PASSWORD_FILE=%q\n' "$DIR/password"
	printf 'export SYNDICATE_TEST_VSFTPD_ROOT=%q\n' /files
	printf 'export SYNDICATE_TEST_VSFTPD_FILES=%q\n' "$DIR/home/files"
	printf 'export SYNDICATE_TEST_VSFTPD_CERT_PIN=%q\n' "$pin"
} >"$DIR/env"
echo "vsftpd.sh: vsftpd on $ADDR:$PORT (pid $(cat "$PIDFILE")); source $DIR/env"
