#!/bin/sh
# run.sh - `make run`: the whole relay on this machine, on ./messages.
#
#   PostOffice  SMTP  127.0.0.1:$SMTP_PORT  (default 2525)
#   PostMaster  HTTP  127.0.0.1:$HTTP_PORT  (default 8000)
#   PostMan     --watch, delivering through this machine's sendmail when
#               there is one, else into the Maildir ./Maildir
#
# Ctrl-C stops all three.
set -u
BUILD=${BUILD:-build}
SMTP_PORT=${SMTP_PORT:-2525}
HTTP_PORT=${HTTP_PORT:-8000}
SPOOL=${SPOOL:-messages}
MAILDIR=${MAILDIR:-$PWD/Maildir}
SENDMAIL=${SENDMAIL:-/usr/sbin/sendmail}

mkdir -p "$SPOOL"
pids=""
stop() {
	trap - INT TERM EXIT
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null
	echo "relay stopped; the spool is in $SPOOL/"
	exit 0
}
trap stop INT TERM EXIT

"$BUILD/postoffice" -l "127.0.0.1:$SMTP_PORT" -s "$SPOOL" &
pids="$pids $!"
if [ -x "$BUILD/postmaster" ]; then
	"$BUILD/postmaster" -l "127.0.0.1:$HTTP_PORT" -s "$SPOOL" &
	pids="$pids $!"
fi
sleep 0.5
if [ -x "$BUILD/postman" ] && [ -x "$BUILD/postmaster" ]; then
	if [ -x "$SENDMAIL" ]; then
		echo "run: PostMan delivers through $SENDMAIL"
		"$BUILD/postman" --watch --sendmail "$SENDMAIL" \
		    --lock "$PWD/$BUILD/postman.lock" "http://127.0.0.1:$HTTP_PORT" &
	else
		mkdir -p "$MAILDIR"
		echo "run: no sendmail on this machine; PostMan delivers into the Maildir $MAILDIR (open it with: mutt -f $MAILDIR)"
		"$BUILD/postman" --watch --maildir "$MAILDIR" \
		    --lock "$PWD/$BUILD/postman.lock" "http://127.0.0.1:$HTTP_PORT" &
	fi
	pids="$pids $!"
fi

cat <<MSG

PostOffice is listening on 127.0.0.1:$SMTP_PORT, spooling into $SPOOL/.
Send a first mail with any of:

  swaks --server 127.0.0.1:$SMTP_PORT --from app@example.com --to you@example.com
  printf 'Subject: hello\n\nfirst mail\n' | curl -sS smtp://127.0.0.1:$SMTP_PORT \\
      --mail-from app@example.com --mail-rcpt you@example.com -T -

or point nullmailer at it: echo '127.0.0.1 smtp port=$SMTP_PORT' > /etc/nullmailer/remotes
MSG
if [ -x "$BUILD/postmaster" ]; then
	cat <<MSG
PostMaster serves the queue on http://127.0.0.1:$HTTP_PORT/ :
  curl -s http://127.0.0.1:$HTTP_PORT/metrics
MSG
fi
echo "Press Ctrl-C to stop."
wait
