#!/usr/bin/env bash
# notify_task, the process that sends a callback's notification, run directly with spec files
# as gust's runner writes them: a Slack incoming webhook (the URL built from the connection as
# SlackWebhookHook does; the rendered text delivered exactly) and an HTTP webhook (JSON, raw
# data, GET query, the connection's headers and basic auth) against tests/lib/http_fixture.py,
# which records every request; mails through Debian's aiosmtpd (tests/fixtures/smtp_sink.py,
# which stores each mail it takes): subject (RFC 2047), HTML body, To/CC/BCC recipients,
# STARTTLS with a throwaway self-signed certificate (trusted through GUST_NOTIFY_CA_FILE) and
# AUTH, smtps://. Failures: HTTP 500 and 403, connection refused, a recipient refused, a
# server that never answers (cut at the spec's timeout), SIGTERM while waiting, bad specs:
# exit 1 (2 for a bad spec), a one-line reason as the last line on stderr, no password or
# webhook token printed.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/http.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 49
NT=$(gust_bin notify_task)
gust_tmpdir tmp
# connections from the environment only, until the last part (the metadata database)
SAVED_PGHOST=${PGHOST-} SAVED_PGDATABASE=${PGDATABASE-}
unset GUST_DATABASE_URL PGHOST PGDATABASE CURL_CA_BUNDLE SSL_CERT_FILE GUST_NOTIFY_CA_FILE
PW=pw-s3cret-9f2 # the SMTP password and the webhook tokens must never be printed

# nt NAME JSON: run notify_task on that spec; RC, OUT (stdout), LAST (the last stderr line)
nt() {
    printf '%s\n' "$2" >"$tmp/$1.json"
    "$NT" --spec "$tmp/$1.json" >"$tmp/$1.out" 2>"$tmp/$1.err"
    RC=$?
    OUT=$(cat "$tmp/$1.out")
    LAST=$(tail -n 1 "$tmp/$1.err")
}

# smtp_start DIR ARGS...: start the aiosmtpd sink storing mails in DIR; SMTP_PORT is its port.
# Its stdin is a FIFO this shell holds open, so it ends with the test.
smtp_start() {
    local dir=$1 fd
    shift
    mkdir -p "$dir"
    mkfifo "$dir.in"
    /usr/bin/python3 "$GUST_SRC/tests/fixtures/smtp_sink.py" "$dir" --stdin "$@" <"$dir.in" \
        >"$dir.url" 2>"$dir.log" &
    gust_kill_at_exit $!
    exec {fd}>"$dir.in"
    wait_for 20 grep -q '^smtp://127.0.0.1:' "$dir.url" || {
        cat "$dir.log" >&2
        return 1
    }
    SMTP_PORT=$(sed -n 's|^smtp://127.0.0.1:||p' "$dir.url")
}

# smtp_conn PORT EXTRA [LOGIN PASSWORD]: AIRFLOW_CONN_SMTP_DEFAULT for 127.0.0.1:PORT
smtp_conn() {
    export AIRFLOW_CONN_SMTP_DEFAULT="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $1, \"login\": \"${3:-}\", \"password\": \"${4:-}\", \"extra\": $2}"
}

# py EXPR-SCRIPT ARGS...: Debian's python (the email package is the oracle for the mails)
py() { /usr/bin/python3 -c "$@"; }

# --- Slack incoming webhook
http_start "$GUST_SRC/tests/integration/notify_fixtures"
HOSTPORT=${HTTP_FIXTURE_URL#http://}
TEXT=$'Task *load* failed: dag=etl run=manual__2026-01-01\nTry 2 of 3 — "quoted" <b>&</b> ünïcödé ✓'
TEXT_JSON=$(py 'import json,sys; print(json.dumps(sys.argv[1]))' "$TEXT")
export AIRFLOW_CONN_SLACK_DEFAULT="{\"conn_type\": \"slackwebhook\", \"password\": \"$HTTP_FIXTURE_URL/services/T000/B000/XXXXSECRET\"}"
nt s1 "{\"kind\": \"slack_webhook\", \"conn_id\": \"slack_default\", \"timeout\": 10, \"callback\": \"airflow.providers.slack.notifications.slack_webhook.send_slack_webhook_notification\", \"text\": $TEXT_JSON, \"blocks\": [{\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\", \"text\": \"hi\"}}], \"unfurl_links\": false}"
check_eq "slack: a token holding :// is the whole webhook URL; 200 is sent (exit 0, one line)" "0 slack: 200" "$RC $OUT"
REQ=$(grep '"/services/T000/B000/XXXXSECRET"' "$HTTP_FIXTURE_REQUESTS")
check_eq "slack: the text arrives exactly as rendered" "$TEXT" "$(py 'import json,sys; print(json.loads(json.loads(sys.argv[1])["body"])["text"])' "$REQ")"
check_eq "slack: the body holds only the arguments given (text, blocks, unfurl_links), as JSON" \
    "application/json;charset=utf-8 blocks,text,unfurl_links False" \
    "$(py 'import json,sys; r=json.loads(sys.argv[1]); b=json.loads(r["body"]); print(r["headers"]["Content-Type"], ",".join(sorted(b)), b["unfurl_links"])' "$REQ")"
export AIRFLOW_CONN_SLACK_OPS="{\"conn_type\": \"slackwebhook\", \"schema\": \"http\", \"host\": \"$HOSTPORT/services/\", \"password\": \"/T111/B111/YYYYSECRET/\"}"
nt s2 "{\"kind\": \"slack_webhook\", \"conn_id\": \"slack_ops\", \"timeout\": 10, \"text\": \"two\"}"
check_eq "slack: schema://host + '/' + token, one '/' between and none at the end (Airflow's rule)" \
    "0 1" "$RC $(grep -c '"path": "/services/T111/B111/YYYYSECRET"' "$HTTP_FIXTURE_REQUESTS")"
export AIRFLOW_CONN_SLACK_OLD="{\"conn_type\": \"slackwebhook\", \"host\": \"$HTTP_FIXTURE_URL/services\", \"password\": \"T222/B222/REVOKEDSECRET\"}"
nt s3 "{\"kind\": \"slack_webhook\", \"conn_id\": \"slack_old\", \"timeout\": 10, \"text\": \"three\"}"
check_eq "slack: a 403 fails (exit 1)" 1 "$RC"
check_contains "slack: the reason is the status and Slack's word" "HTTP 403: invalid_token" "$LAST"
check_eq "slack: ... and never the webhook token" 0 "$(grep -c SECRET "$tmp/s3.err" "$tmp/s3.out" | awk -F: '{n += $2} END {print n}')"
export AIRFLOW_CONN_SLACK_EMPTY='{"conn_type": "slackwebhook", "host": "hooks.example.org"}'
nt s4 '{"kind": "slack_webhook", "conn_id": "slack_empty", "timeout": 10, "text": "x"}'
check_contains "slack: a connection without a token fails saying so" "1 slack: connection slack_empty has no password (the Slack webhook token)" "$RC $LAST"

# --- HTTP webhook
export AIRFLOW_CONN_HOOKS="{\"conn_type\": \"http\", \"host\": \"$HOSTPORT\", \"login\": \"ops\", \"password\": \"$PW\", \"extra\": {\"X-Team\": \"data\", \"timeout\": 20}}"
nt h1 '{"kind": "http", "conn_id": "hooks", "timeout": 10, "endpoint": "hooks/alert", "headers": {"X-Run": "manual__1"}, "json": {"dag": "etl", "state": "failed", "tries": [1, 2], "note": "ünï \"q\""}}'
check_eq "http: POST (the default) with a JSON body; 204 is sent" "0 http: 204" "$RC $OUT"
REQ=$(grep '"method": "POST", "path": "/hooks/alert"' "$HTTP_FIXTURE_REQUESTS")
check_eq "http: the body is the json argument, sent as application/json" \
    "{'dag': 'etl', 'state': 'failed', 'tries': [1, 2], 'note': 'ünï \"q\"'} application/json" \
    "$(py 'import json,sys; r=json.loads(sys.argv[1]); print(json.loads(r["body"]), r["headers"]["Content-Type"])' "$REQ")"
check_eq "http: the connection's extra as headers (not its timeout), login as basic auth, then headers" \
    "data Basic $(printf 'ops:%s' "$PW" | base64) manual__1 False" \
    "$(py 'import json,sys; h=json.loads(sys.argv[1])["headers"]; print(h["X-Team"], h["Authorization"], h["X-Run"], "timeout" in {k.lower() for k in h})' "$REQ")"
nt h2 '{"kind": "http", "conn_id": "hooks", "timeout": 10, "endpoint": "/hooks/alert", "method": "put", "data": "raw text=1&x", "json": {"ignored": true}}'
check_eq "http: method PUT; a data string is the body as is (it wins over json, as in requests)" \
    "0 http: 200 raw text=1&x" \
    "$RC $OUT $(py 'import json,sys; print([json.loads(l)["body"] for l in open(sys.argv[1]) if "\"PUT\"" in l][0])' "$HTTP_FIXTURE_REQUESTS")"
nt h3 '{"kind": "http", "conn_id": "hooks", "timeout": 10, "endpoint": "hooks/alert", "method": "GET", "data": {"dag": "etl", "q": "a b"}}'
check_eq "http: GET sends data as the query" "0 dag=etl&q=a+b" \
    "$RC $(py 'import json,sys; print([json.loads(l)["query"] for l in open(sys.argv[1]) if "\"GET\"" in l][0])' "$HTTP_FIXTURE_REQUESTS")"
nt h4 '{"kind": "http", "conn_id": "hooks", "timeout": 10, "endpoint": "hooks/broken", "json": {}}'
check_eq "http: a 500 fails (exit 1), nothing on stdout" "1 " "$RC $OUT"
check_eq "http: the reason names the call, the status and the body's start, on one line" \
    "http: POST $HTTP_FIXTURE_URL/hooks/broken: HTTP 500: boom: the upstream is down second line" "$LAST"
export AIRFLOW_CONN_HOOKS_INURL="{\"conn_type\": \"http\", \"host\": \"http://ops:$PW@$HOSTPORT\", \"password\": \"$PW\"}"
nt h9 '{"kind": "http", "conn_id": "hooks_inurl", "timeout": 10, "endpoint": "hooks/broken"}'
check_eq "http: the connection's password, even inside its URL, is shown as ***" \
    "1 http: POST http://ops:***@$HOSTPORT/hooks/broken: HTTP 500: boom: the upstream is down second line" "$RC $LAST"
nt h5 '{"kind": "http", "conn_id": "hooks", "timeout": 10, "endpoint": "hooks/broken", "extra_options": {"check_response": false}}'
check_eq "http: extra_options.check_response false takes any status" "0 http: 500" "$RC $OUT"
nt h6 '{"kind": "http", "conn_id": "hooks", "timeout": 1, "endpoint": "hooks/slow", "json": {}}'
check_contains "http: a server that does not answer is cut at the spec's timeout (exit 1)" "1 http: POST $HTTP_FIXTURE_URL/hooks/slow: timed out after 1 s" "$RC $LAST"
FREE=$(py 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export AIRFLOW_CONN_NOBODY="http://127.0.0.1:$FREE"
nt h7 '{"kind": "http", "conn_id": "nobody", "timeout": 10, "endpoint": "x"}'
check_contains "http: connection refused fails with curl's reason" "1 http: POST http://127.0.0.1:$FREE/x: Failed to connect" "$RC $LAST"
nt h8 '{"kind": "http", "conn_id": "not_there", "timeout": 10}'
check_contains "http: an unknown connection fails naming it" "1 http:" "$RC $LAST"
check_contains "http: ... its id" "not_there" "$LAST"

# --- SMTP, plain
smtp_start "$tmp/plain" --reject nobody
smtp_conn "$SMTP_PORT" '{"disable_ssl": true, "disable_tls": true, "from_email": "Gust Alerts <gust@example.org>"}'
SUBJECT='Airflow alert: <TaskInstance: etl.load manual__2026 [failed]> — échec ✓'
HTML=$'<p>Try 2 out of 3<br>Exception:<br>boom &amp; more</p>\n<p>ünïcödé ✓</p>'
J=$(py 'import json,sys; print(json.dumps({"kind": "smtp", "conn_id": "smtp_default", "timeout": 10, "callback": "email", "to": "ann@example.org; Bob Ray <bob@example.org>", "cc": ["carl@example.org"], "bcc": "dee@example.org", "subject": sys.argv[1], "html_content": sys.argv[2]}))' "$SUBJECT" "$HTML")
nt m1 "$J"
check_eq "smtp: sent to every recipient (exit 0, one line)" "0 smtp: 4 recipients" "$RC $OUT"
check_eq "smtp: the envelope: MAIL FROM the connection's from_email, RCPT to + cc + bcc" \
    "gust@example.org ann@example.org,bob@example.org,carl@example.org,dee@example.org False" \
    "$(py 'import json,sys; m=json.load(open(sys.argv[1])); print(m["mail_from"], ",".join(m["rcpt_tos"]), m["tls"])' "$tmp/plain/1.json")"
EML='import email,email.header,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb")); '
check_eq "smtp: the subject (RFC 2047 encoded, as Python's email reads it)" "$SUBJECT" \
    "$(py "$EML"'print(str(email.header.make_header(email.header.decode_header(m["Subject"]))))' "$tmp/plain/1.eml")"
check_eq "smtp: the HTML body, exactly" "$HTML" \
    "$(py "$EML"'p=[x for x in m.walk() if x.get_content_type()=="text/html"][0]; print(p.get_payload(decode=True).decode(p.get_content_charset()))' "$tmp/plain/1.eml")"
check_eq "smtp: From, To, CC headers; no Bcc header; Date and Message-ID; multipart/mixed" \
    "Gust Alerts <gust@example.org>|ann@example.org, Bob Ray <bob@example.org>|carl@example.org|None|True|True|multipart/mixed" \
    "$(py "$EML"'print("|".join(str(x) for x in (m["From"], m["To"], m["CC"], m["Bcc"], m["Date"] is not None, m["Message-ID"] is not None, m.get_content_type())))' "$tmp/plain/1.eml")"
nt m2 '{"kind": "smtp", "timeout": 10, "to": "nobody@example.org", "subject": "s", "html_content": "h"}'
check_eq "smtp: the only recipient refused: failed (exit 1)" 1 "$RC"
check_contains "smtp: the reason is the server's reply" "550 5.1.1 <nobody@example.org>: no such user" "$LAST"
nt m3 '{"kind": "smtp", "timeout": 10, "to": ["nobody@example.org", "eve@example.org"], "subject": "s", "html_content": "h"}'
check_eq "smtp: one of two refused: sent to the other, the refused one reported (as smtplib)" \
    "0 smtp: 1 recipient (refused: nobody@example.org: 550 5.1.1 <nobody@example.org>: no such user) eve@example.org" \
    "$RC $OUT $(py 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["rcpt_tos"]))' "$tmp/plain/2.json")"
smtp_conn "$SMTP_PORT" '{"disable_ssl": true, "disable_tls": true}'
nt m4 '{"kind": "smtp", "timeout": 10, "to": "ann@example.org", "subject": "s", "html_content": "h"}'
check_contains "smtp: no from_email anywhere fails saying where to give it" "1 smtp: no from_email" "$RC $LAST"

# --- SMTP with STARTTLS and AUTH, and smtps://
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
smtp_start "$tmp/tls" --starttls "$tmp/cert.pem" "$tmp/key.pem" --auth "ann:$PW"
smtp_conn "$SMTP_PORT" '{"disable_ssl": true, "from_email": "gust@example.org"}' ann "$PW"
SPEC='{"kind": "smtp", "conn_id": "smtp_default", "timeout": 10, "to": "ann@example.org", "subject": "over TLS", "html_content": "<i>secret-free</i>"}'
nt t1 "$SPEC"
check_contains "starttls: an untrusted certificate fails (the server is verified)" "1 smtp: smtp_default" "$RC $LAST"
check_contains "starttls: ... saying why" "SSL certificate problem" "$LAST"
export GUST_NOTIFY_CA_FILE=$tmp/cert.pem
nt t2 "$SPEC"
check_eq "starttls: trusted through GUST_NOTIFY_CA_FILE: sent after STARTTLS and AUTH" \
    "0 smtp: 1 recipient True ann" \
    "$RC $OUT $(py 'import json,sys; m=json.load(open(sys.argv[1])); print(m["tls"], m["login"])' "$tmp/tls/1.json")"
smtp_conn "$SMTP_PORT" '{"disable_ssl": true, "from_email": "gust@example.org"}' ann "wrong-$PW"
nt t3 "$SPEC"
check_contains "starttls: a wrong password fails with the server's reply" "535" "$RC $LAST"
smtp_conn "$SMTP_PORT" '{"disable_ssl": true, "disable_tls": "true", "from_email": "gust@example.org"}' ann "$PW"
nt t4 "$SPEC"
check_contains "starttls: disable_tls sends no STARTTLS, and this server refuses MAIL before it" "1 smtp:" "$RC $LAST"
check_contains "starttls: ... with its 530" "530" "$LAST"
smtp_start "$tmp/smtps" --smtps "$tmp/cert.pem" "$tmp/key.pem"
smtp_conn "$SMTP_PORT" '{"from_email": "gust@example.org"}'
nt t5 "$SPEC"
check_eq "smtps: by default (no disable_ssl) the connection is TLS from the first byte" \
    "0 smtp: 1 recipient True" \
    "$RC $OUT $(py 'import json,sys; print(json.load(open(sys.argv[1]))["tls"])' "$tmp/smtps/1.json")"
smtp_start "$tmp/hang" --hang
smtp_conn "$SMTP_PORT" '{"disable_ssl": true, "disable_tls": true, "from_email": "gust@example.org"}'
nt t6 "${SPEC/\"timeout\": 10/\"timeout\": 1}"
check_contains "smtp: a server that never answers is cut at the spec's timeout (exit 1)" "1 smtp: smtp_default (smtp://127.0.0.1:$SMTP_PORT): timed out after 1 s" "$RC $LAST"
printf '%s\n' "${SPEC/\"timeout\": 10/\"timeout\": 60}" >"$tmp/t7.json"
"$NT" --spec "$tmp/t7.json" >"$tmp/t7.out" 2>"$tmp/t7.err" &
T7=$!
wait_for 20 grep -q "no TLS, 1 recipient" "$tmp/t7.err"
kill -TERM "$T7"
wait "$T7"
check_eq "smtp: SIGTERM (the runner's time limit) ends the wait at once: exit 1, saying so" \
    "1 smtp: smtp_default (smtp://127.0.0.1:$SMTP_PORT): stopped by signal 15" "$? $(tail -n 1 "$tmp/t7.err")"
unset GUST_NOTIFY_CA_FILE

# --- bad specs: exit 2 before any network work
nt b1 '{"kind": "slack_webhook", "text": '
check_contains "bad spec: not JSON (exit 2, file:line:col)" "2 spec $tmp/b1.json:2:" "$RC $LAST"
nt b2 '{"kind": "pager", "conn_id": "x"}'
check_eq "bad spec: an unknown kind" "2 spec $tmp/b2.json: kind: want slack_webhook, smtp or http" "$RC $LAST"
nt b3 '{"kind": "smtp", "subject": "s", "html_content": "h"}'
check_eq "bad spec: a mail without to" "2 spec $tmp/b3.json: to: missing (required)" "$RC $LAST"
nt b4 '{"kind": "http", "headers": ["X-A: 1"], "timeout": 5}'
check_eq "bad spec: headers not an object" "2 spec $tmp/b4.json: headers: want an object" "$RC $LAST"
"$NT" --spec "$tmp/none.json" >"$tmp/b6.out" 2>&1
check_eq "bad spec: a file that cannot be read" "2 spec: unable to open $tmp/none.json: No such file or directory" "$? $(tail -n 1 "$tmp/b6.out")"
"$NT" >"$tmp/b5.out" 2>&1
check_eq "usage: --spec is required (exit 2)" "2 --spec FILE is required (see --help)" "$? $(tail -n 1 "$tmp/b5.out")"

# --- a connection from the metadata database (its password Fernet-encrypted there)
[ -n "$SAVED_PGHOST" ] && export PGHOST=$SAVED_PGHOST
[ -n "$SAVED_PGDATABASE" ] && export PGDATABASE=$SAVED_PGDATABASE
pg_gust_db gust_notify_task
export AIRFLOW__CORE__FERNET_KEY
AIRFLOW__CORE__FERNET_KEY=$(py 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
"$GUST" connections add hooks_db --conn-uri "http://ops:$PW@$HOSTPORT" >"$tmp/add.out" 2>&1
nt d1 '{"kind": "http", "conn_id": "hooks_db", "timeout": 10, "endpoint": "hooks/alert", "json": {"from": "db"}}'
check_eq "db: a connection stored in the metadata database is found (no AIRFLOW_CONN_ variable)" \
    "0 http: 204" "$RC $OUT"
check_eq "db: its decrypted password is the basic auth" 1 \
    "$(grep '"body": "{\\"from\\":\\"db\\"}"' "$HTTP_FIXTURE_REQUESTS" | grep -c "Basic $(printf 'ops:%s' "$PW" | base64)")"

# --- never a password or a webhook token in anything printed
check_eq "no password nor webhook token in any output" 0 \
    "$(cat "$tmp"/*.out "$tmp"/*.err | grep -c -e "$PW" -e SECRET)"
