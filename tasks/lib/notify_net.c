/* notify_net: one HTTP request or one SMTP mail through libcurl's easy interface, tried
 * once (notify_net.h). The SMTP dialogue is watched through libcurl's debug callback: the
 * command sent last and the server's replies, so that a refused recipient and the server's
 * last word can be reported; the bytes sent (AUTH holds the password) are read only to know
 * which command was sent and which RCPT address, never kept otherwise. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "notify_net.h"

/* stop at the first failing option, keep its code */
#define SET(h, rc, opt, val)                                                                       \
    do {                                                                                           \
        if ((rc) == CURLE_OK)                                                                      \
            (rc) = curl_easy_setopt((h), (opt), (val));                                            \
    } while (0)

static int
on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
    return task_stopping() ? 1 : 0;
}

/* Options both kinds share: timeouts, TLS, the stop check, the error buffer. */
static CURLcode
common_opts(CURL *h, long timeout_ms, long connect_ms, const struct notify_tls *tls, char *errbuf)
{
    CURLcode rc = CURLE_OK;

    SET(h, rc, CURLOPT_NOSIGNAL, 1L);
    SET(h, rc, CURLOPT_ERRORBUFFER, errbuf);
    SET(h, rc, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
    if (connect_ms > 0)
        SET(h, rc, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SET(h, rc, CURLOPT_NOPROGRESS, 0L);
    SET(h, rc, CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(h, rc, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
    SET(h, rc, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
    if (tls->cainfo != NULL && *tls->cainfo)
        SET(h, rc, CURLOPT_CAINFO, tls->cainfo);
    return rc;
}

/* The reason of a failed transfer, one line. */
static int
transfer_error(CURLcode rc, const char *errbuf, long timeout_ms, struct err *e)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return err_set(e, ERR_IO, "stopped by signal %d", task_stop_signal());
    if (rc == CURLE_OPERATION_TIMEDOUT)
        err_set(e, ERR_IO, "timed out after %.3g s (%s)", (double)timeout_ms / 1000.0, why);
    else
        err_set(e, ERR_IO, "%s", why);
    e->temporary = true;
    return -1;
}

/* ---- HTTP ---- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct notify_http_res *res = ud;
    size_t n = size * nmemb, have = strlen(res->body), room = sizeof(res->body) - 1 - have;

    for (size_t i = 0; i < n && i < room; i++) {
        unsigned char ch = (unsigned char)data[i];
        res->body[have + i] = ch == '\r' || ch == '\n' || ch == '\t' || ch == 0 ? ' ' : (char)ch;
    }
    res->body[have + (n < room ? n : room)] = '\0';
    return n;
}

static CURLcode
http_opts(CURL *h, const struct notify_http_req *r, struct curl_slist *hdrs,
          struct notify_http_res *res)
{
    CURLcode rc = CURLE_OK;
    bool get = strcmp(r->method, "GET") == 0, head = strcmp(r->method, "HEAD") == 0;

    SET(h, rc, CURLOPT_URL, r->url);
    SET(h, rc, CURLOPT_PROTOCOLS_STR, "http,https");
    SET(h, rc, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(h, rc, CURLOPT_FOLLOWLOCATION, 1L);
    SET(h, rc, CURLOPT_MAXREDIRS, 30L); /* requests' limit */
    SET(h, rc, CURLOPT_USERAGENT, "gust-notify_task/0.1 libcurl");
    SET(h, rc, CURLOPT_WRITEFUNCTION, on_body);
    SET(h, rc, CURLOPT_WRITEDATA, (void *)res);
    if (hdrs != NULL)
        SET(h, rc, CURLOPT_HTTPHEADER, hdrs);
    if (r->proxy != NULL && *r->proxy)
        SET(h, rc, CURLOPT_PROXY, r->proxy);
    if (head)
        SET(h, rc, CURLOPT_NOBODY, 1L);
    else if (r->body != NULL) {
        SET(h, rc, CURLOPT_POSTFIELDS, r->body);
        SET(h, rc, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    } else if (!get && strcmp(r->method, "POST") == 0) {
        SET(h, rc, CURLOPT_POSTFIELDS, "");
    }
    if (!get && !head && strcmp(r->method, "POST") != 0)
        SET(h, rc, CURLOPT_CUSTOMREQUEST, r->method);
    return rc;
}

int
notify_net_http(const struct notify_http_req *r, struct notify_http_res *res, struct err *e)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL, *l;
    CURL *h = curl_easy_init();
    CURLcode rc;
    int ret = -1;

    memset(res, 0, sizeof(*res));
    for (size_t i = 0; r->headers && i < r->headers->n; i++) {
        if ((l = curl_slist_append(hdrs, r->headers->v[i])) == NULL)
            goto out;
        hdrs = l;
    }
    if ((l = curl_slist_append(hdrs, "Expect:")) == NULL)
        goto out;
    hdrs = l;
    if (h == NULL || (rc = common_opts(h, r->timeout_ms, 0, &r->tls, errbuf)) != CURLE_OK ||
        (rc = http_opts(h, r, hdrs, res)) != CURLE_OK) {
        err_set(e, ERR_FAIL, "cannot set the request up");
        goto out;
    }
    if ((rc = curl_easy_perform(h)) != CURLE_OK) {
        transfer_error(rc, errbuf, r->timeout_ms, e);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    ret = 0;
out:
    if (ret < 0 && e && e->code == ERR_OK)
        err_set(e, ERR_FAIL, "out of memory");
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return ret;
}

/* ---- SMTP ---- */

/* The dialogue as seen by the debug callback. */
struct smtp_watch {
    struct notify_smtp_res *res;
    char cmd[5];    /* the last command's verb ("RCPT") */
    char rcpt[256]; /* the address of the last RCPT */
    struct err oom;
};

static void
on_command(struct smtp_watch *w, const char *data, size_t n)
{
    size_t i, k;
    const char *lt, *gt;

    for (i = 0; i < 4 && i < n; i++)
        w->cmd[i] = (char)toupper((unsigned char)data[i]);
    w->cmd[i] = '\0';
    if (strcmp(w->cmd, "RCPT") != 0)
        return;
    lt = memchr(data, '<', n);
    gt = lt ? memchr(lt, '>', n - (size_t)(lt - data)) : NULL;
    k = lt && gt ? (size_t)(gt - lt - 1) : 0;
    k = k < sizeof(w->rcpt) - 1 ? k : sizeof(w->rcpt) - 1;
    memcpy(w->rcpt, lt ? lt + 1 : "", k);
    w->rcpt[k] = '\0';
}

static void
on_reply_line(struct smtp_watch *w, const char *line, size_t n)
{
    struct notify_smtp_res *res = w->res;
    char *refused = NULL, text[sizeof(res->last_reply)];
    bool error = line[0] == '4' || line[0] == '5';

    n = n < sizeof(text) - 1 ? n : sizeof(text) - 1;
    for (size_t i = 0; i < n; i++)
        text[i] = isprint((unsigned char)line[i]) ? line[i] : ' ';
    text[n] = '\0';
    /* keep the first error the server gave, not the "221 Bye" after it */
    if (error || !(res->last_reply[0] == '4' || res->last_reply[0] == '5'))
        memcpy(res->last_reply, text, n + 1);
    if (n < 4 || line[3] != ' ' || strcmp(w->cmd, "RCPT") != 0)
        return; /* not the final line of a RCPT's reply */
    if (!error) {
        res->accepted++;
    } else if (asprintf(&refused, "%s: %s", w->rcpt, text) >= 0) {
        task_list_add(&res->refused, refused, &w->oom);
        free(refused);
    }
}

static int
on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    struct smtp_watch *w = ud;

    (void)h;
    if (type == CURLINFO_HEADER_OUT) {
        on_command(w, data, size);
    } else if (type == CURLINFO_HEADER_IN) {
        while (size > 0) {
            size_t n = 0;
            while (n < size && data[n] != '\r' && data[n] != '\n')
                n++;
            if (n > 0)
                on_reply_line(w, data, n);
            while (n < size && (data[n] == '\r' || data[n] == '\n'))
                n++;
            data += n, size -= n;
        }
    }
    return 0;
}

/* The message, read by libcurl. */
struct source {
    const char *p;
    size_t left;
};

static size_t
on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct source *s = ud;
    size_t n = size * nmemb < s->left ? size * nmemb : s->left;

    memcpy(buf, s->p, n);
    s->p += n, s->left -= n;
    return n;
}

static CURLcode
smtp_opts(CURL *h, const struct notify_smtp_req *r, struct curl_slist *rcpt, struct source *src,
          struct smtp_watch *w)
{
    CURLcode rc = CURLE_OK;
    char from[512];

    snprintf(from, sizeof(from), "<%s>", r->mail_from);
    SET(h, rc, CURLOPT_URL, r->url);
    SET(h, rc, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    if (r->starttls)
        SET(h, rc, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (r->login && *r->login && r->password && *r->password) {
        SET(h, rc, CURLOPT_USERNAME, r->login);
        SET(h, rc, CURLOPT_PASSWORD, r->password);
    }
    SET(h, rc, CURLOPT_MAIL_FROM, from);
    SET(h, rc, CURLOPT_MAIL_RCPT, rcpt);
#if LIBCURL_VERSION_NUM >= 0x080200
    SET(h, rc, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#else
    SET(h, rc, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
    SET(h, rc, CURLOPT_READFUNCTION, on_read);
    SET(h, rc, CURLOPT_READDATA, (void *)src);
    SET(h, rc, CURLOPT_UPLOAD, 1L);
    SET(h, rc, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src->left);
    SET(h, rc, CURLOPT_VERBOSE, 1L);
    SET(h, rc, CURLOPT_DEBUGFUNCTION, on_debug);
    SET(h, rc, CURLOPT_DEBUGDATA, (void *)w);
    return rc;
}

static struct curl_slist *
rcpt_list(const struct task_list *l)
{
    struct curl_slist *out = NULL, *n;

    for (size_t i = 0; l && i < l->n; i++) {
        char buf[512];
        snprintf(buf, sizeof(buf), "<%s>", l->v[i]);
        if ((n = curl_slist_append(out, buf)) == NULL) {
            curl_slist_free_all(out);
            return NULL;
        }
        out = n;
    }
    return out;
}

int
notify_net_smtp(const struct notify_smtp_req *r, struct notify_smtp_res *res, struct err *e)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct source src = {r->message, strlen(r->message)};
    struct smtp_watch w = {.res = res};
    struct curl_slist *rcpt = rcpt_list(r->rcpt);
    CURL *h = curl_easy_init();
    CURLcode rc;
    int ret = -1;

    memset(res, 0, sizeof(*res));
    if (h == NULL || rcpt == NULL ||
        common_opts(h, r->timeout_ms, r->connect_timeout_ms, &r->tls, errbuf) != CURLE_OK ||
        smtp_opts(h, r, rcpt, &src, &w) != CURLE_OK) {
        err_set(e, ERR_FAIL, "cannot set the mail up");
        goto out;
    }
    if ((rc = curl_easy_perform(h)) != CURLE_OK) {
        transfer_error(rc, errbuf, r->timeout_ms, e);
        if (res->last_reply[0] && rc != CURLE_OPERATION_TIMEDOUT && rc != CURLE_ABORTED_BY_CALLBACK)
            err_set(e, ERR_IO, "%s; the server's last reply: %s",
                    errbuf[0] ? errbuf : curl_easy_strerror(rc), res->last_reply);
        goto out;
    }
    ret = 0;
out:
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    return ret;
}
