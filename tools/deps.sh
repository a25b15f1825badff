#!/bin/sh
# deps.sh GROUP... - makes sure the Debian packages a make target needs are
# installed.  As root it installs what is missing with apt-get; otherwise it
# names exactly what is missing and fails.
#
# Groups: build (compile the daemons: a plain make), run (make run: build,
# and what tools/run.sh and the first mail README shows need: curl, swaks),
# test (make check: run, and the test tools), bench (make bench), fuzz (make
# fuzz), e2e (the end-to-end test: the real nullmailer, nginx and msmtp a
# deployment uses; nullmailer excludes postfix, which is therefore never
# installed - see tools/postfix-tools.sh), fresh (make fresh-check, on the
# host: debootstrap makes the fresh root).
set -eu

pkgs_build="gcc make pkg-config libevent-dev libgmime-3.0-dev libcjson-dev
 libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libesmtp-dev libsystemd-dev
 libcrypt-dev libglib2.0-dev"
pkgs_run="$pkgs_build curl swaks"
pkgs_test="$pkgs_run libcmocka-dev python3 python3-pytest python3-aiosmtpd
 apache2-utils ca-certificates openssl systemd man-db groff-base valgrind
 procps"
pkgs_bench="$pkgs_test python3-falcon gunicorn wrk"
pkgs_fuzz="$pkgs_build clang libfuzzer-14-dev libclang-rt-14-dev"
pkgs_e2e="nullmailer nginx msmtp openssl apache2-utils util-linux"
pkgs_fresh="debootstrap git util-linux coreutils"

want=""
for g in "$@"; do
	case "$g" in
	build) want="$want $pkgs_build" ;;
	run) want="$want $pkgs_run" ;;
	test) want="$want $pkgs_test" ;;
	bench) want="$want $pkgs_bench" ;;
	fuzz) want="$want $pkgs_fuzz" ;;
	e2e) want="$want $pkgs_e2e" ;;
	fresh) want="$want $pkgs_fresh" ;;
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
