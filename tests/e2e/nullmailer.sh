#!/bin/sh
# nullmailer.sh DIR COMMAND [ARG...] - runs a nullmailer program against a
# private configuration and queue instead of the machine's.
#
# nullmailer reads the fixed paths /etc/nullmailer, /var/spool/nullmailer
# and (on Debian, for its own name) /etc/mailname.  Run this script in a
# private mount namespace,
#
#   unshare --mount --propagation private sh nullmailer.sh DIR sendmail -f A B
#
# and it bind-mounts DIR/etc, DIR/spool and DIR/mailname over them, so
# nothing outside the namespace sees or loses anything, then executes
# COMMAND: "sendmail ARG..." (the message on standard input) or "send"
# (nullmailer-send, which runs until it is stopped).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DIR sendmail|send [ARG...]" >&2; exit 64; }
dir=$1
cmd=$2
shift 2

# Refuse to touch the real paths outside a private namespace.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	echo "$0: not in a private mount namespace; refusing to mount" >&2
	exit 77
fi
mount --bind "$dir/etc" /etc/nullmailer
mount --bind "$dir/spool" /var/spool/nullmailer
mount --bind "$dir/mailname" /etc/mailname

case "$cmd" in
sendmail) exec /usr/sbin/sendmail "$@" ;;
send) exec /usr/sbin/nullmailer-send ;;
*) echo "$0: unknown command '$cmd'" >&2; exit 64 ;;
esac
