#!/bin/sh
# run.sh - `make run`: the whole relay on this machine.
#
#   PostOffice  SMTP  127.0.0.1:$SMTP_PORT  (default 2525), spool $SPOOL
#   PostMaster  HTTP  127.0.0.1:$HTTP_PORT  (default 8000), same spool
#   PostMan     --watch, delivering
#                 into the Maildir $MAILDIR when MAILDIR is given;
#                 else through $SENDMAIL (default /usr/sbin/sendmail) when
#                 it is executable and not nullmailer's;
#                 else into the Maildir ./Maildir.
#               SENDMAIL= (empty) means no sendmail: the Maildir.  MAILDIR
#               and SENDMAIL both given, or a SENDMAIL given that cannot
#               run, are refused rather than guessed at.
#
# A daemon that cannot start is named, with the reason its exit status
# gives (69: its port is in use).
set -u
BUILD=${BUILD:-build}
SMTP_PORT=${SMTP_PORT:-2525}
HTTP_PORT=${HTTP_PORT:-8000}
SPOOL=${SPOOL:-messages}
# Which of MAILDIR and SENDMAIL the user gave, before the defaults.
maildir_given=${MAILDIR:+yes}
sendmail_given=${SENDMAIL+yes}
MAILDIR=${MAILDIR:-$PWD/Maildir}
SENDMAIL=${SENDMAIL-/usr/sbin/sendmail}
LOCK=${LOCK:-$BUILD/postman.lock}

for p in postoffice postmaster postman; do
	if [ ! -x "$BUILD/$p" ]; then
		echo "run: $BUILD/$p is not built (run make first)" >&2
		exit 1
	fi
done
if [ -n "$maildir_given" ] && [ -n "$sendmail_given" ] && [ -n "$SENDMAIL" ]; then
	echo "run: MAILDIR and SENDMAIL are both set; give one (MAILDIR=dir: into that Maildir, SENDMAIL=path: through that sendmail)" >&2
	exit 1
fi
if [ -z "$maildir_given" ] && [ -n "$sendmail_given" ] && [ -n "$SENDMAIL" ] &&
    [ ! -x "$SENDMAIL" ]; then
	echo "run: SENDMAIL=$SENDMAIL is not a program that can run (SENDMAIL= delivers into the Maildir $MAILDIR)" >&2
	exit 1
fi
mkdir -p "$SPOOL" || exit 1

pids=""
sleeper=""
stop() {
	trap - INT TERM EXIT
	# shellcheck disable=SC2086
	[ -n "$pids$sleeper" ] && kill $pids $sleeper 2>/dev/null
	wait
	echo "run: relay stopped; the spool is in $SPOOL/"
	exit "${1:-0}"
}
trap 'stop 0' INT TERM
trap 'stop 1' EXIT

# True while every daemon started so far runs.
all_alive() {
	for pid in $pids; do
		kill -0 "$pid" 2>/dev/null || return 1
	done
	return 0
}

# Names the daemons that have ended, with what their exit status says;
# false when all run.  A daemon's own message is above (stderr).
report_ended() {
	ended=1
	for d in "PostOffice $po_pid SMTP_PORT $SMTP_PORT" \
	    "PostMaster $pm_pid HTTP_PORT $HTTP_PORT" "PostMan $pn_pid - -"; do
		# shellcheck disable=SC2086
		set -- $d
		[ -n "$2" ] && ! kill -0 "$2" 2>/dev/null || continue
		wait "$2"
		st=$?
		ended=0
		if [ "$st" -eq 69 ] && [ "$3" != - ]; then
			echo "run: $1 did not start: port $4 on 127.0.0.1 is in use (another program, or another make run, listens there); choose another: $3=N make run" >&2
		else
			echo "run: $1 ended with exit status $st (see its message above)" >&2
		fi
	done
	return $ended
}

po_pid="" pm_pid="" pn_pid=""
"$BUILD/postoffice" -l "127.0.0.1:$SMTP_PORT" -s "$SPOOL" &
po_pid=$!
pids="$pids $!"
"$BUILD/postmaster" -l "127.0.0.1:$HTTP_PORT" -s "$SPOOL" &
pm_pid=$!
pids="$pids $!"

# PostMan starts once PostMaster answers (at most 10 s), so that its first
# lease does not fail; a daemon that could not start (a port in use) ends
# the run.
i=0
until curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$HTTP_PORT/metrics"; do
	i=$((i + 1))
	if ! all_alive || [ $i -ge 50 ]; then
		report_ended ||
		    echo "run: PostMaster did not answer on 127.0.0.1:$HTTP_PORT within 10 s" >&2
		echo "run: the relay did not start" >&2
		stop 1
	fi
	sleep 0.2
done

# nullmailer's sendmail only relays to its remotes, and the remotes line
# this relay asks for points at PostOffice: mail would go round for ever.
is_nullmailer() {
	real=$(readlink -f "$1" 2>/dev/null) || real=$1
	case "$1 $real" in
	*nullmailer*) return 0 ;;
	esac
	dpkg-query -S "$real" 2>/dev/null | grep -q '^nullmailer:'
}

maildir() {
	"$BUILD/postman" --watch --maildir "$MAILDIR" \
	    --lock "$LOCK" "http://127.0.0.1:$HTTP_PORT" &
	arrives="It arrives in $MAILDIR/new/ (read it with: mutt -f $MAILDIR)."
}

if [ -n "$maildir_given" ]; then
	echo "run: PostMan delivers into the Maildir $MAILDIR (MAILDIR is set)"
	maildir
elif [ -z "$SENDMAIL" ]; then
	echo "run: SENDMAIL is empty: PostMan delivers into the Maildir $MAILDIR"
	maildir
elif [ -x "$SENDMAIL" ] && is_nullmailer "$SENDMAIL"; then
	echo "run: this machine's sendmail ($SENDMAIL) is nullmailer's, which would hand the mail back to PostOffice; PostMan delivers into the Maildir $MAILDIR instead"
	maildir
elif [ -x "$SENDMAIL" ]; then
	echo "run: PostMan delivers through this machine's sendmail, $SENDMAIL"
	"$BUILD/postman" --watch --sendmail "$SENDMAIL" \
	    --lock "$LOCK" "http://127.0.0.1:$HTTP_PORT" &
	arrives="It goes out through $SENDMAIL, to wherever this machine sends mail:
mailq lists what waits in its queue, the mail log (/var/log/mail.log, or
journalctl -f) says where it went.  To keep the mail here instead:
SENDMAIL= make run (it then arrives in $MAILDIR/new/)."
else
	echo "run: no sendmail on this machine ($SENDMAIL); PostMan delivers into the Maildir $MAILDIR"
	maildir
fi
pn_pid=$!
pids="$pids $!"
sleep 0.2
if ! all_alive; then
	report_ended
	echo "run: the relay did not start" >&2
	stop 1
fi

cat <<MSG

PostOffice is listening on 127.0.0.1:$SMTP_PORT, spooling into $SPOOL/.
PostMaster serves that spool on http://127.0.0.1:$HTTP_PORT/ (try
curl -s http://127.0.0.1:$HTTP_PORT/metrics); PostMan takes the mail from it.

Send a first mail with any of:

  swaks --server 127.0.0.1:$SMTP_PORT --from app@example.com --to you@example.com
  printf 'Subject: hello\\n\\nfirst mail\\n' | curl -sS --crlf -T - \\
      --mail-from app@example.com --mail-rcpt you@example.com smtp://127.0.0.1:$SMTP_PORT

or point nullmailer at it: echo '127.0.0.1 smtp port=$SMTP_PORT' > /etc/nullmailer/remotes
$arrives
Press Ctrl-C to stop.
MSG
# Until a signal comes, or one daemon ends by itself (then the others are
# stopped too).  wait, unlike a plain sleep, lets a signal in at once.
while all_alive; do
	sleep 1 &
	sleeper=$!
	wait $sleeper
	sleeper=""
done
report_ended
echo "run: the relay stopped because a daemon ended" >&2
stop 1
