/* notify_mail: the mail notify_task sends, built as Airflow's SmtpHook builds it (a
 * multipart/<mime_subtype> message holding one text/html part, base64 in mime_charset), and
 * the address lists of its arguments. Pure: no I/O, no clock (the caller gives the time).
 *
 * Header values never carry a line break of their own (CR and LF become spaces), so a
 * rendered subject cannot add headers; a Subject that is not plain ASCII, or long, is RFC 2047
 * encoded ("=?utf-8?b?...?=" words, folded). */
#ifndef GUST_NOTIFY_MAIL_H
#define GUST_NOTIFY_MAIL_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "task.h"

/* What the mail says. Strings borrowed. */
struct notify_mail {
    const char *from; /* From header, as given ("Ann <ann@x>" or "ann@x") */
    const struct task_list *to, *cc;
    const char *subject, *html;
    const char *mime_subtype; /* "mixed" when NULL */
    const char *charset;      /* "utf-8" when NULL */
    json_t *custom_headers;   /* object of extra headers, or NULL */
    const char *message_id;   /* the Message-ID header's value, "<...>" */
};

/* Airflow's address list: a string split at ',' or ';' (blanks around them dropped), or a
 * list of strings; NULL or JSON null: no address. Appends to out; -1 with e (ERR_USAGE,
 * naming key) for another type or an address holding a line break, '<' without '>'... */
int notify_mail_addrs(json_t *v, const char *key, struct task_list *out, struct err *e);

/* The address itself of "Name <a@b>" (what is inside the last <>), else s without its blanks,
 * copied into buf. buf, or NULL when it does not fit. */
const char *notify_mail_addr_spec(const char *s, char *buf, size_t size);

/* RFC 2047 form of a header value: the value as is when it is printable ASCII and at most
 * 76 bytes, else "=?utf-8?b?...?=" words of at most 45 bytes of text each, folded with
 * "\r\n ", never splitting a UTF-8 character. New string. */
char *notify_mail_encode_header(const char *value);

/* The whole message (headers, CRLF line ends, base64 body) at time now (its Date header, in
 * the local time zone as Python's formatdate(localtime=True)). New string, or NULL with e
 * (a custom header name that is not a token). */
char *notify_mail_build(const struct notify_mail *m, time_t now, struct err *e);

#endif
