#!/bin/sh
# postfix-tools.sh DIR - unpacks Debian's postfix package into DIR without
# installing it (postfix conflicts with nullmailer), for its load tools:
#
#   LD_LIBRARY_PATH=DIR/usr/lib/postfix DIR/usr/sbin/smtp-source ...
#   LD_LIBRARY_PATH=DIR/usr/lib/postfix DIR/usr/sbin/smtp-sink ...
#
# The shared libraries postfix depends on (libicu72, libnsl2, ...) that this
# machine has not installed are unpacked too, from their own packages, into
# DIR/deps, and linked into DIR/usr/lib/postfix: the one LD_LIBRARY_PATH
# above finds them, and nothing is installed.
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

# download PACKAGE: its .deb into the current folder.  A machine whose
# package lists were never fetched knows no postfix yet.
download() {
	if ! apt-get download "$1" >/dev/null 2>apt.err &&
	   ! { apt-get update -qq >/dev/null 2>&1 &&
	       apt-get download "$1" >/dev/null 2>apt.err; }; then
		echo "postfix-tools.sh: 'apt-get download $1' failed:" >&2
		cat apt.err >&2
		exit 69
	fi
}

# The library packages a .deb depends on: the first of each alternative,
# without its version.
lib_depends() {
	dpkg-deb -f "$1" Depends Pre-Depends | tr ',\n' '\n\n' |
	    sed 's/|.*//; s/(.*//; s/:any//; s/[[:space:]]//g' | grep '^lib' || true
}

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

download postfix
dpkg -x postfix_*.deb "$dir"
[ -x "$dir/usr/sbin/smtp-source" ] || {
	echo "postfix-tools.sh: no usr/sbin/smtp-source in the postfix package" >&2
	exit 69
}

# Every library package not installed here, and those it needs in turn.
todo=$(lib_depends postfix_*.deb)
done_=""
while [ -n "$todo" ]; do
	set -- $todo
	p=$1
	shift
	todo="$*"
	case " $done_ " in *" $p "*) continue ;; esac
	done_="$done_ $p"
	installed "$p" && continue
	download "$p"
	deb=$(ls "${p}"_*.deb)
	dpkg -x "$deb" "$dir/deps"
	todo="$todo $(lib_depends "$deb")"
done
if [ -d "$dir/deps" ]; then
	(cd "$dir/deps" && find . -name 'lib*.so*' \( -type f -o -type l \)) |
	while read -r so; do
		ln -sf "../../../deps/${so#./}" "$dir/usr/lib/postfix/${so##*/}"
	done
fi
