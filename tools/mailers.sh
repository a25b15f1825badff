#!/bin/sh
# mailers.sh DIR - makes the mailers backends hand mail over with ready
# for tests/integration/test_postoffice_mailers.py.
#
# Installed as Debian packages (they conflict with nothing): msmtp, curl,
# php-cli with libphp-phpmailer, ruby-mail, golang-go, and the libraries
# the unpacked MTAs below link against.
#
# Unpacked into DIR, never installed: postfix, exim4-daemon-light and dma
# each provide mail-transport-agent and conflict with each other and with
# the nullmailer the end-to-end test installs.  They run from DIR/NAME
# with a private configuration.
#
# nodemailer comes from the npm registry, at a pinned version, into
# DIR/node (outside the repository).
#
# As root it installs what is missing; otherwise it only unpacks and
# names what is missing.  Each part that fails is written to
# DIR/missing.txt as "NAME: reason" and the script goes on, so that a test
# skips only the mailer it cannot have, saying why.  Exit 0 unless DIR
# cannot be made.
set -u

NODEMAILER=6.9.16
debs_apt="msmtp curl php-cli libphp-phpmailer ruby-mail golang-go
 libicu72 libsasl2-2 libnsl2 libdb5.3 libssl3 libgnutls-dane0 libgnutls30
 libidn12 libidn2-0 libpcre2-8-0 libcrypt1"
debs_unpacked="postfix exim4-daemon-light dma"

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 64; }
mkdir -p "$1" || exit 73
dir=$(cd "$1" && pwd)
missing=$dir/missing.txt
: >"$missing.new"
log=$dir/mailers.log
: >"$log"

miss() { echo "$1: $2" >>"$missing.new"; }

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

want=""
for p in $debs_apt; do
	installed "$p" || want="$want $p"
done
if [ -n "$want" ] && [ "$(id -u)" -eq 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $want >>"$log" 2>&1 ||
	    { apt-get update -qq >>"$log" 2>&1 &&
	      apt-get install -y -qq --no-install-recommends $want >>"$log" 2>&1; }
fi
for p in $debs_apt; do
	installed "$p" || miss "$p" "Debian package not installed (run $0 as root)"
done

for p in $debs_unpacked; do
	[ -d "$dir/$p/usr" ] && continue
	tmp=$(mktemp -d)
	if (cd "$tmp" && apt-get download "$p" >>"$log" 2>&1) ||
	   { apt-get update -qq >>"$log" 2>&1 &&
	     (cd "$tmp" && apt-get download "$p" >>"$log" 2>&1); }; then
		mkdir -p "$dir/$p.new" &&
		    dpkg-deb -x "$tmp"/"$p"_*.deb "$dir/$p.new" &&
		    mv "$dir/$p.new" "$dir/$p" ||
		    miss "$p" "dpkg-deb -x of its package failed"
	else
		miss "$p" "'apt-get download $p' failed (see $log)"
	fi
	rm -rf "$tmp"
done

if [ ! -f "$dir/node/node_modules/nodemailer/package.json" ]; then
	if command -v npm >/dev/null 2>&1; then
		mkdir -p "$dir/node" &&
		    (cd "$dir/node" && npm install --no-save --no-audit --no-fund \
		    "nodemailer@$NODEMAILER" >>"$log" 2>&1) ||
		    miss nodemailer "'npm install nodemailer@$NODEMAILER' failed (see $log)"
	else
		miss nodemailer "no npm (Debian package npm) to install it with"
	fi
fi
mv "$missing.new" "$missing"
exit 0
