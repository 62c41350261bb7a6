#!/usr/bin/env bash
# Starts a throwaway Apache 2.4 mod_dav WebDAV server on 127.0.0.1:8090
# (Basic auth) for the full test suite (Debian 12, as root, no systemd
# needed), and writes DIR/env for the http transport's tests:
#
#   scripts/apache-dav.sh [DIR]   # DIR defaults to /tmp/syndicate-apache-dav
#   set -a; . DIR/env; set +a
#   go test -run Apache ./internal/transport/http/
#
# Apache runs from a self-contained configuration in DIR (its own
# ServerRoot, PidFile, ErrorLog, DavLockDB, modules loaded by path), so it
# neither needs nor touches Debian's default site, a2enmod or the apache2
# service. It binds 127.0.0.1 only. Apache differs from nginx where the
# transport cares: HEAD of a 0-byte file carries no Content-Length, only
# PROPFIND's getcontentlength says 0.
#
# Files land in DIR/root. Safe to run again: the server DIR started is
# stopped, the root is wiped and a new password is made.
#
#   DAV_PORT=8091 scripts/apache-dav.sh /tmp/other
#
# starts another one on another port.
set -euo pipefail

DIR=${1:-/tmp/syndicate-apache-dav}
ADDR=127.0.0.1
PORT=${DAV_PORT:-8090}
USER_NAME=syndicate
MODULES=/usr/lib/apache2/modules
RUN_USER=www-data

if [[ $(id -u) -ne 0 ]]; then
	echo "apache-dav.sh: must run as root (installs apache2 if missing)" >&2
	exit 1
fi
if [[ ! -x /usr/sbin/apache2 || ! -f $MODULES/mod_dav_fs.so ]] || ! command -v htpasswd >/dev/null; then
	# The package's maintainer scripts would start Debian's default site
	# (port 80, every address); a policy-rc.d that says 101 stops that.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y apache2 apache2-utils
	# Where a service was started anyway (an existing policy allowed it),
	# stop Debian's own instance: only ours should run.
	if [[ -f /var/run/apache2/apache2.pid ]]; then
		kill "$(cat /var/run/apache2/apache2.pid)" 2>/dev/null || true
	fi
fi

# SYNDICATE_INSTALL_ONLY=1: install what is missing and stop here (the full
# suite's stage 1; the server then starts in its network namespace).
[[ -z ${SYNDICATE_INSTALL_ONLY:-} ]] || exit 0
mkdir -p "$DIR"
chmod 700 "$DIR"
PIDFILE=$DIR/apache2.pid
if [[ -f $PIDFILE ]]; then
	pid=$(cat "$PIDFILE")
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == apache2 ]]; then
		kill "$pid" # the parent stops its children
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$PIDFILE"
fi
if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
	echo "apache-dav.sh: something else already listens on $ADDR:$PORT" >&2
	exit 1
fi

rm -rf "$DIR/root" "$DIR/lock" "$DIR/run"
mkdir -p "$DIR/root" "$DIR/lock" "$DIR/run"
# Apache's children run as www-data: they write the files and the lock DB.
chown "$RUN_USER": "$DIR/root" "$DIR/lock"
chmod 711 "$DIR"

password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
umask 077
rm -f "$DIR/htpasswd"
htpasswd -cbB -C 5 "$DIR/htpasswd" "$USER_NAME" "$password" 2>/dev/null
chown "$RUN_USER": "$DIR/htpasswd"
printf '%s:%s\n' "$USER_NAME" "$password" >"$DIR/secret"

cat >"$DIR/apache2.conf" <<EOF
ServerRoot $DIR
ServerName $ADDR
Listen $ADDR:$PORT
PidFile $PIDFILE
Mutex file:$DIR/run default
DefaultRuntimeDir $DIR/run
ErrorLog $DIR/error.log
LogLevel warn
User $RUN_USER
Group $RUN_USER

LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule authz_user_module $MODULES/mod_authz_user.so
LoadModule authn_core_module $MODULES/mod_authn_core.so
LoadModule authn_file_module $MODULES/mod_authn_file.so
LoadModule auth_basic_module $MODULES/mod_auth_basic.so
LoadModule dav_module $MODULES/mod_dav.so
LoadModule dav_fs_module $MODULES/mod_dav_fs.so

StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
Timeout 60
KeepAlive On
LimitRequestBody 0

DavLockDB $DIR/lock/DavLock
DocumentRoot $DIR/root
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory $DIR/root>
	Dav On
	AuthType Basic
	AuthName "syndicate test"
	AuthBasicProvider file
	AuthUserFile $DIR/htpasswd
	Require valid-user
</Directory>
EOF
/usr/sbin/apache2 -f "$DIR/apache2.conf" -k start

up=
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
		up=1
		break
	fi
	sleep 0.1
done
if [[ -z $up ]]; then
	echo "apache-dav.sh: apache2 did not start listening on $ADDR:$PORT; see $DIR/error.log" >&2
	tail -n 20 "$DIR/error.log" >&2 || true
	exit 1
fi
{
	printf 'export SYNDICATE_TEST_APACHE_DAV_URL=%q\n' "http://$ADDR:$PORT"
	printf 'export SYNDICATE_TEST_APACHE_DAV_SECRET_FILE=%q\n' "$DIR/secret"
	printf 'export SYNDICATE_TEST_APACHE_DAV_ROOT=%q\n' "$DIR/root"
} >"$DIR/env"
chmod 600 "$DIR/env"
echo "apache-dav.sh: Apache mod_dav on http://$ADDR:$PORT (pid $(cat "$PIDFILE")), files in $DIR/root; source $DIR/env"
