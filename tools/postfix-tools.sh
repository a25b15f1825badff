#!/bin/sh
# postfix-tools.sh DIR - unpacks Debian's postfix package into DIR without
# installing it (postfix conflicts with nullmailer), for its load tools:
#
#   LD_LIBRARY_PATH=DIR/usr/lib/postfix DIR/usr/sbin/smtp-source ...
#   LD_LIBRARY_PATH=DIR/usr/lib/postfix DIR/usr/sbin/smtp-sink ...
#
# Does nothing when DIR/usr/sbin/smtp-source is already there.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 64; }
dir=$1
[ -x "$dir/usr/sbin/smtp-source" ] && exit 0
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp"
# A machine whose package lists were never fetched knows no postfix yet.
if ! apt-get download postfix >/dev/null 2>apt.err &&
   ! { apt-get update -qq >/dev/null 2>&1 &&
       apt-get download postfix >/dev/null 2>apt.err; }; then
	echo "postfix-tools.sh: 'apt-get download postfix' failed:" >&2
	cat apt.err >&2
	exit 69
fi
dpkg -x postfix_*.deb "$dir"
[ -x "$dir/usr/sbin/smtp-source" ] || {
	echo "postfix-tools.sh: no usr/sbin/smtp-source in the postfix package" >&2
	exit 69
}
