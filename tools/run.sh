#!/bin/sh
# run.sh - `make run`: the whole relay on this machine.
#
#   PostOffice  SMTP  127.0.0.1:$SMTP_PORT  (default 2525), spool $SPOOL
#   PostMaster  HTTP  127.0.0.1:$HTTP_PORT  (default 8000), same spool
#   PostMan     --watch, delivering through this machine's sendmail
#               ($SENDMAIL, /usr/sbin/sendmail) when it is executable and
#               not nullmailer's, else into the Maildir $MAILDIR (./Maildir)
#
# Ctrl-C (SIGINT) or SIGTERM stops all three.  The daemons log to this
# terminal.  PostMan's lock file is $LOCK ($BUILD/postman.lock).
set -u
BUILD=${BUILD:-build}
SMTP_PORT=${SMTP_PORT:-2525}
HTTP_PORT=${HTTP_PORT:-8000}
SPOOL=${SPOOL:-messages}
MAILDIR=${MAILDIR:-$PWD/Maildir}
SENDMAIL=${SENDMAIL:-/usr/sbin/sendmail}
LOCK=${LOCK:-$BUILD/postman.lock}

for p in postoffice postmaster postman; do
	if [ ! -x "$BUILD/$p" ]; then
		echo "run: $BUILD/$p is not built (run make first)" >&2
		exit 1
	fi
done
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

"$BUILD/postoffice" -l "127.0.0.1:$SMTP_PORT" -s "$SPOOL" &
pids="$pids $!"
"$BUILD/postmaster" -l "127.0.0.1:$HTTP_PORT" -s "$SPOOL" &
pids="$pids $!"

# PostMan starts once PostMaster answers (at most 10 s), so that its first
# lease does not fail; a daemon that could not start (a port in use) ends
# the run.
i=0
until curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$HTTP_PORT/metrics"; do
	i=$((i + 1))
	if ! all_alive || [ $i -ge 50 ]; then
		echo "run: the relay did not start (see the messages above)" >&2
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

if [ -x "$SENDMAIL" ] && is_nullmailer "$SENDMAIL"; then
	echo "run: this machine's sendmail ($SENDMAIL) is nullmailer's, which would hand the mail back to PostOffice; PostMan delivers into the Maildir $MAILDIR instead"
	"$BUILD/postman" --watch --maildir "$MAILDIR" \
	    --lock "$LOCK" "http://127.0.0.1:$HTTP_PORT" &
	arrives="It arrives in $MAILDIR/new/ (read it with: mutt -f $MAILDIR)."
elif [ -x "$SENDMAIL" ]; then
	echo "run: PostMan delivers through this machine's sendmail, $SENDMAIL"
	"$BUILD/postman" --watch --sendmail "$SENDMAIL" \
	    --lock "$LOCK" "http://127.0.0.1:$HTTP_PORT" &
	arrives="It goes out through $SENDMAIL, to wherever this machine sends mail."
else
	echo "run: no sendmail on this machine ($SENDMAIL); PostMan delivers into the Maildir $MAILDIR"
	"$BUILD/postman" --watch --maildir "$MAILDIR" \
	    --lock "$LOCK" "http://127.0.0.1:$HTTP_PORT" &
	arrives="It arrives in $MAILDIR/new/ (read it with: mutt -f $MAILDIR)."
fi
pids="$pids $!"
sleep 0.2
if ! all_alive; then
	echo "run: PostMan did not start (see the message above)" >&2
	stop 1
fi

cat <<MSG

PostOffice is listening on 127.0.0.1:$SMTP_PORT, spooling into $SPOOL/.
PostMaster serves that spool on http://127.0.0.1:$HTTP_PORT/ (try
curl -s http://127.0.0.1:$HTTP_PORT/metrics); PostMan takes the mail from it.

Send a first mail with any of:

  swaks --server 127.0.0.1:$SMTP_PORT --from app@example.com --to you@example.com
  printf 'Subject: hello\\n\\nfirst mail\\n' | curl -sS smtp://127.0.0.1:$SMTP_PORT \\
      --mail-from app@example.com --mail-rcpt you@example.com -T -

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
echo "run: a daemon ended (see the messages above)" >&2
stop 1
