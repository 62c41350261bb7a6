#!/usr/bin/env bash
# Starts two throwaway ProFTPD 1.3.8 servers (Debian's proftpd-core) for the
# full test suite (Debian 12, as root), each speaking plain FTP and explicit
# FTPS (mod_tls) on one port, with one virtual user (AuthUserFile):
#
#   127.0.0.1:2131  Debian's defaults: AllowStoreRestart off, so REST + STOR
#                   and APPE are refused ("451 Append/Restart not permitted");
#                   no mod_digest, so no HASH.
#   127.0.0.1:2132  AllowStoreRestart on, and mod_digest (FEAT lists HASH
#                   and XSHA256).
#
#   scripts/proftpd.sh [DIR]        # DIR defaults to /tmp/syndicate-proftpd
#   set -a; . DIR/env; set +a
#   go test -run Proftpd ./internal/transport/ftp/
#
# The ftp-server packages conflict (vsftpd, proftpd-core, pure-ftpd: one at
# a time), so the packages are unpacked into DIR/pkg with dpkg -x and run
# from there: no maintainer scripts, no inetd, no systemd. Both servers bind
# 127.0.0.1 only, never look names up (UseReverseDNS off; mod_ident is not
# loaded), and use passive ports 30200-30249 and 30250-30299.
#
# Safe to run again: the password and certificate are kept, the test roots
# are emptied, and servers a previous run started from DIR are stopped first.
set -euo pipefail

DIR=${1:-/tmp/syndicate-proftpd}
ADDR=127.0.0.1
USERNAME=synproftp
PKG=$DIR/pkg

if [[ $(id -u) -ne 0 ]]; then
	echo "proftpd.sh: must run as root (creates a user, binds ports, switches to the user)" >&2
	exit 1
fi

mkdir -p "$DIR"
chmod 755 "$DIR"

# The servers' libraries are ordinary packages that conflict with nothing;
# only the ftp-server packages themselves are unpacked by hand.
libs=(libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3 libpcre2-8-0 libsodium23 libssl3 libacl1 libcap2 libidn2-0 libpam0g libcrypt1 libncursesw6 zlib1g)
need=()
for p in "${libs[@]}" openssl; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if ((${#need[@]})); then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
if [[ ! -x $PKG/usr/sbin/proftpd || ! -f $PKG/usr/lib/proftpd/mod_tls.so ]]; then
	rm -rf "$DIR/debs" "$PKG"
	mkdir -p "$DIR/debs" "$PKG"
	# apt-get download writes to the current directory, as the _apt user
	# where it can (hence the chmod).
	chmod 777 "$DIR/debs"
	(cd "$DIR/debs" && apt-get download proftpd-core proftpd-mod-crypto) ||
		{ apt-get update && (cd "$DIR/debs" && apt-get download proftpd-core proftpd-mod-crypto); }
	for deb in "$DIR"/debs/*.deb; do
		dpkg -x "$deb" "$PKG"
	done
fi
# SYNDICATE_INSTALL_ONLY=1: install what is missing and stop here (the full
# suite's stage 1; the server then starts in its network namespace).
[[ -z ${SYNDICATE_INSTALL_ONLY:-} ]] || exit 0
PROFTPD=$PKG/usr/sbin/proftpd
"$PROFTPD" -v >/dev/null

# The virtual user's files belong to a system user without a login.
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
# SHA-512 crypt: what Debian's ftpasswd writes, and quick to check.
hash=$(openssl passwd -6 -stdin <"$DIR/password")

# stop NAME: stops the proftpd a previous run started for NAME, only that one.
stop() {
	local pidfile=$DIR/$1/proftpd.pid pid
	[[ -f $pidfile ]] || return 0
	pid=$(cat "$pidfile")
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == proftpd ]]; then
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$pidfile"
}

# start NAME PORT PASV_MIN PASV_MAX EXTRA_CONFIG
start() {
	local name=$1 port=$2 pmin=$3 pmax=$4 extra=$5
	local d=$DIR/$name
	mkdir -p "$d"
	# The chroot (the home) is root's; the tests write below files/, as
	# with vsftpd.
	install -d -m 755 -o root -g root "$d/home"
	rm -rf "$d/home/files"
	install -d -m 755 -o "$USERNAME" -g "$gid" "$d/home/files"
	(umask 077 && printf '%s:%s:%s:%s::%s:/usr/sbin/nologin\n' "$USERNAME" "$hash" "$uid" "$gid" "$d/home" >"$d/ftpd.passwd")
	(umask 077 && printf '%s:x:%s:\n' "$USERNAME" "$gid" >"$d/ftpd.group")
	# Debian's /etc/proftpd/proftpd.conf where it matters to a client
	# (AllowOverwrite on, Umask 022, AllowStoreRestart left at its default,
	# off), with paths below DIR and loopback only.
	cat >"$d/proftpd.conf" <<EOF
ModulePath $PKG/usr/lib/proftpd
LoadModule mod_tls.c
$(if [[ $extra == *Digest* ]]; then echo "LoadModule mod_digest.c"; fi)

ServerName "syndicate-test-$name"
ServerType standalone
DefaultServer on
UseIPv6 off
DefaultAddress $ADDR
SocketBindTight on
Port $port
PassivePorts $pmin $pmax
MasqueradeAddress $ADDR
UseReverseDNS off
DeferWelcome off
MaxInstances 30
User $USERNAME
Group nogroup
Umask 022 022
AllowOverwrite on
DefaultRoot ~
RequireValidShell off
AuthOrder mod_auth_file.c
AuthUserFile $d/ftpd.passwd
AuthGroupFile $d/ftpd.group
WtmpLog off
DelayEngine off
ScoreboardFile $d/proftpd.scoreboard
PidFile $d/proftpd.pid
SystemLog $d/proftpd.log
TransferLog $d/xferlog
TimeoutNoTransfer 600
TimeoutStalled 600
TimeoutIdle 1200

<IfModule mod_tls.c>
TLSEngine on
TLSRequired off
TLSProtocol TLSv1.2 TLSv1.3
TLSRSACertificateFile $DIR/cert.pem
TLSRSACertificateKeyFile $DIR/key.pem
TLSLog $d/tls.log
TLSSessionCache internal:
# The transport resumes the control connection's TLS session on data
# connections (vsftpd requires it); do not fail a client that cannot.
TLSOptions NoSessionReuseRequired
</IfModule>

$extra
EOF
	"$PROFTPD" -t -c "$d/proftpd.conf" >"$d/configtest.log" 2>&1 ||
		{ echo "proftpd.sh: $d/proftpd.conf does not check:" >&2; cat "$d/configtest.log" >&2; exit 1; }
	stop "$name"
	# -n keeps proftpd in the foreground, so its PID is known; its own
	# session and output away from the caller's terminal and pipes.
	nohup setsid "$PROFTPD" -n -c "$d/proftpd.conf" </dev/null >>"$d/stderr.log" 2>&1 &
	echo $! >"$d/proftpd.pid"
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/$ADDR/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "proftpd.sh: proftpd ($name) did not start listening on $ADDR:$port; see $d/stderr.log and $d/proftpd.log" >&2
	tail -n 20 "$d/stderr.log" "$d/proftpd.log" >&2 || true
	exit 1
}

start defaults 2131 30200 30249 ""
start restart 2132 30250 30299 "AllowStoreRestart on
<IfModule mod_digest.c>
DigestEngine on
</IfModule>"

pin=SHA256:$(openssl x509 -in "$DIR/cert.pem" -outform der | openssl dgst -sha256 -binary | base64)
{
	printf 'export SYNDICATE_TEST_PROFTPD_ADDR=%q\n' "$ADDR:2131"
	printf 'export SYNDICATE_TEST_PROFTPD_FILES=%q\n' "$DIR/defaults/home/files"
	printf 'export SYNDICATE_TEST_PROFTPD_RESTART_ADDR=%q\n' "$ADDR:2132"
	printf 'export SYNDICATE_TEST_PROFTPD_RESTART_FILES=%q\n' "$DIR/restart/home/files"
	printf 'export SYNDICATE_TEST_PROFTPD_USER=%q\n' "$USERNAME"
	printf 'export SYNDICATE_TEST_PROFTPD_PASSWORD_FILE=%q\n' "$DIR/password"
	printf 'export SYNDICATE_TEST_PROFTPD_ROOT=%q\n' /files
	printf 'export SYNDICATE_TEST_PROFTPD_CERT_PIN=%q\n' "$pin"
} >"$DIR/env"
echo "proftpd.sh: ProFTPD on $ADDR:2131 (Debian defaults) and $ADDR:2132 (AllowStoreRestart on); source $DIR/env"
