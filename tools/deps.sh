#!/bin/sh
# deps.sh GROUP... - makes sure the Debian packages a make target needs are
# installed.  As root it installs what is missing with apt-get; otherwise it
# names exactly what is missing and fails.
#
# Groups: build (compile the daemons), test (make check), bench (make bench),
# fuzz (make fuzz), e2e (the end-to-end test: the real nullmailer, nginx and
# msmtp a deployment uses; nullmailer excludes postfix, which is therefore
# never installed - see tools/postfix-tools.sh).
set -eu

pkgs_build="gcc make pkg-config libevent-dev libgmime-3.0-dev libcjson-dev
 libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libesmtp-dev libsystemd-dev
 libcrypt-dev libglib2.0-dev"
pkgs_test="$pkgs_build libcmocka-dev python3 python3-pytest swaks curl
 apache2-utils ca-certificates openssl systemd man-db groff-base valgrind
 python3-aiosmtpd"
pkgs_bench="$pkgs_test python3-falcon gunicorn wrk"
pkgs_fuzz="$pkgs_build clang libfuzzer-14-dev libclang-rt-14-dev"
pkgs_e2e="nullmailer nginx msmtp openssl apache2-utils util-linux"

want=""
for g in "$@"; do
	case "$g" in
	build) want="$want $pkgs_build" ;;
	test) want="$want $pkgs_test" ;;
	bench) want="$want $pkgs_bench" ;;
	fuzz) want="$want $pkgs_fuzz" ;;
	e2e) want="$want $pkgs_e2e" ;;
	*) echo "deps.sh: unknown group '$g'" >&2; exit 64 ;;
	esac
done

missing=""
for p in $(printf '%s\n' $want | sort -u); do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps.sh: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || true
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	exit 0
fi
echo "deps.sh: missing Debian packages:$missing" >&2
echo "deps.sh: install them with: sudo apt-get install$missing" >&2
exit 69
