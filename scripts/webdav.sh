#!/usr/bin/env bash
# Starts a throwaway nginx WebDAV server on 127.0.0.1:8088 (Basic auth) for
# the full test suite and the HTTP bench (Debian, as root), and writes
# DIR/env for the http transport's tests:
#
#   scripts/webdav.sh [DIR]       # DIR defaults to /tmp/syndicate-webdav
#   set -a; . DIR/env; set +a
#   go test -run Nginx ./internal/transport/http/
#
# nginx's own dav module takes PUT, DELETE, MKCOL, COPY and MOVE; the
# dav-ext module (libnginx-mod-http-dav-ext) adds PROPFIND and OPTIONS, so
# the transport finds a WebDAV server and rclone's webdav backend can list.
# Files land in DIR/root. Safe to run again: the server DIR started is
# stopped, the root is wiped and a new password is made.
set -euo pipefail

DIR=${1:-/tmp/syndicate-webdav}
ADDR=127.0.0.1
PORT=${WEBDAV_PORT:-8088}
USER_NAME=syndicate
MODULE=/usr/lib/nginx/modules/ngx_http_dav_ext_module.so

if [[ $(id -u) -ne 0 ]]; then
	echo "webdav.sh: must run as root (installs nginx if missing)" >&2
	exit 1
fi
if ! command -v nginx >/dev/null || [[ ! -f $MODULE ]]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y nginx libnginx-mod-http-dav-ext
	# Where the package's own service started (port 80, all addresses), stop it.
	if [[ -f /run/nginx.pid ]]; then
		nginx -s quit 2>/dev/null || kill "$(cat /run/nginx.pid)" 2>/dev/null || true
	fi
fi

# SYNDICATE_INSTALL_ONLY=1: install what is missing and stop here. The full
# suite installs on the machine's network, then starts the server inside a
# network namespace that has only lo (scripts/test-all.sh).
[[ -z ${SYNDICATE_INSTALL_ONLY:-} ]] || exit 0

mkdir -p "$DIR"
chmod 700 "$DIR"
if [[ -f $DIR/nginx.pid ]]; then
	pid=$(cat "$DIR/nginx.pid")
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == nginx ]]; then
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$DIR/nginx.pid"
fi
if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
	echo "webdav.sh: something else already listens on $ADDR:$PORT" >&2
	exit 1
fi

rm -rf "$DIR/root" "$DIR/tmp"
mkdir -p "$DIR/root" "$DIR/tmp"
# nginx's workers run as www-data: they write the files.
chown www-data: "$DIR/root" "$DIR/tmp"
chmod 711 "$DIR"

password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
umask 077
printf '%s:%s\n' "$USER_NAME" "$(openssl passwd -apr1 "$password")" >"$DIR/htpasswd"
chown www-data: "$DIR/htpasswd"
printf '%s:%s\n' "$USER_NAME" "$password" >"$DIR/secret"

cat >"$DIR/nginx.conf" <<EOF
load_module $MODULE;
daemon on;
user www-data;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
worker_processes 2;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $DIR/tmp;
	proxy_temp_path $DIR/tmp;
	fastcgi_temp_path $DIR/tmp;
	uwsgi_temp_path $DIR/tmp;
	scgi_temp_path $DIR/tmp;
	client_max_body_size 0;
	sendfile on;
	server {
		listen $ADDR:$PORT;
		root $DIR/root;
		auth_basic "syndicate test";
		auth_basic_user_file $DIR/htpasswd;
		location / {
			dav_methods PUT DELETE MKCOL COPY MOVE;
			dav_ext_methods PROPFIND OPTIONS;
			dav_access user:rw group:r all:r;
			autoindex on;
		}
	}
}
EOF
nginx -c "$DIR/nginx.conf"

for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null && break
	sleep 0.1
done
{
	printf 'export SYNDICATE_TEST_WEBDAV_URL=%q\n' "http://$ADDR:$PORT"
	printf 'export SYNDICATE_TEST_WEBDAV_SECRET_FILE=%q\n' "$DIR/secret"
	printf 'export SYNDICATE_TEST_WEBDAV_ROOT=%q\n' "$DIR/root"
} >"$DIR/env"
echo "webdav.sh: nginx WebDAV on http://$ADDR:$PORT (pid $(cat "$DIR/nginx.pid")), files in $DIR/root; source $DIR/env"
