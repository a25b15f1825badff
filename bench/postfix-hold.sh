#!/bin/sh
# postfix-hold.sh start ROOT DIR PORT | stop ROOT DIR | count DIR
#
# A private Postfix instance for the benchmark, run from the tree that
# tools/postfix-tools.sh unpacked into ROOT, with its configuration, queue and
# log under DIR.  Its smtpd listens on 127.0.0.1:PORT and puts every
# message it accepts into the hold queue, where it stays: Postfix's full
# durable acceptance path (cleanup writes and fsyncs the queue file) with
# no delivery afterwards.  `count` prints the number of held messages.
# Must run as root: Postfix's master starts as root and its daemons run
# as mail_owner, created here when missing.
set -eu

usage() { echo "usage: postfix-hold.sh start ROOT DIR PORT | stop ROOT DIR | count DIR" >&2; exit 64; }

ensure_accounts() {
	getent group postdrop >/dev/null || groupadd --system postdrop
	getent group postfix >/dev/null || groupadd --system postfix
	getent passwd postfix >/dev/null ||
		useradd --system --gid postfix --no-create-home \
		    --home-dir /nonexistent --shell /usr/sbin/nologin postfix
}

write_config() {
	root=$1 dir=$2 port=$3
	mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
	chown postfix "$dir/data"
	cat >"$dir/conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
daemon_directory = $root/usr/lib/postfix/sbin
command_directory = $root/usr/sbin
shlib_directory = $root/usr/lib/postfix
meta_directory = $root/etc/postfix
sendmail_path = $root/usr/sbin/sendmail
newaliases_path = $root/usr/bin/newaliases
mailq_path = $root/usr/bin/mailq
manpage_directory = $root/usr/share/man
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$root/usr/lib/postfix
myhostname = bench.localdomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtpd_relay_restrictions = permit_mynetworks, reject
# Every message goes to the hold queue and stays there.
smtpd_client_restrictions = check_client_access static:HOLD
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 250
message_size_limit = 104857600
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
CF
	cat >"$dir/conf/master.cf" <<CF
127.0.0.1:$port inet n - n - 250 smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
}

cmd=${1:-}
case "$cmd" in
start)
	[ $# -eq 4 ] || usage
	root=$2 dir=$3 port=$4
	ensure_accounts
	write_config "$root" "$dir" "$port"
	LD_LIBRARY_PATH=$root/usr/lib/postfix \
	    "$root/usr/sbin/postfix" -c "$dir/conf" start >"$dir/start.log" 2>&1 || {
		echo "postfix-hold.sh: postfix start failed:" >&2
		cat "$dir/start.log" "$dir/maillog" 2>/dev/null | tail -20 >&2
		exit 70
	}
	;;
stop)
	[ $# -eq 3 ] || usage
	root=$2 dir=$3
	LD_LIBRARY_PATH=$root/usr/lib/postfix \
	    "$root/usr/sbin/postfix" -c "$dir/conf" stop >/dev/null 2>&1 || true
	;;
count)
	[ $# -eq 2 ] || usage
	find "$2/queue/hold" -type f 2>/dev/null | wc -l
	;;
*) usage ;;
esac
