#!/bin/sh
# postfix-root.sh DIR - unpacks Debian's postfix package into DIR without
# installing it (the package would replace the system's mail transport
# agent).  Afterwards DIR/usr/sbin holds smtp-source, smtp-sink and
# postfix, DIR/usr/lib/postfix the daemons and shared libraries; run them
# with LD_LIBRARY_PATH=DIR/usr/lib/postfix.  Does nothing when DIR is
# already complete.
set -eu

dir=${1:?usage: postfix-root.sh DIR}
[ -x "$dir/usr/sbin/smtp-source" ] && [ -x "$dir/usr/lib/postfix/sbin/smtpd" ] &&
	exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# apt-get download writes into the current folder; _apt cannot read a
# folder made by mktemp, hence the chmod.
chmod 755 "$work"
(cd "$work" && apt-get download -q postfix >/dev/null 2>"$work/err") || {
	echo "postfix-root.sh: apt-get download postfix failed:" >&2
	cat "$work/err" >&2
	exit 69
}
mkdir -p "$dir"
dpkg -x "$work"/postfix_*.deb "$dir"
[ -x "$dir/usr/sbin/smtp-source" ] || {
	echo "postfix-root.sh: no smtp-source in the package" >&2
	exit 70
}
