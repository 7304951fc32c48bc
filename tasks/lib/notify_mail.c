/* notify_mail: the MIME message and the address lists of notify_task's mail (notify_mail.h).
 * The layout follows what Python's email package makes of Airflow's SmtpHook message:
 * multipart/<subtype> with Subject, From, To, CC (Bcc never appears), Date, then the
 * custom headers, one text/html part in base64. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "notify_mail.h"

/* One address: no line break, no NUL-ish control, balanced <>. */
static int
check_addr(const char *a, const char *key, struct err *e)
{
    const char *lt = strrchr(a, '<');

    for (const char *p = a; *p; p++)
        if ((unsigned char)*p < 0x20)
            return err_set(e, ERR_USAGE, "%s: address \"%.60s\" holds a control character", key, a);
    if (*a == '\0')
        return err_set(e, ERR_USAGE, "%s: an empty address", key);
    if ((lt != NULL) != (strchr(a, '>') != NULL) || (lt && strchr(lt, '>') == NULL))
        return err_set(e, ERR_USAGE, "%s: address \"%.60s\": unbalanced <>", key, a);
    return 0;
}

static int
add_addr(const char *a, size_t n, const char *key, struct task_list *out, struct err *e)
{
    char *s = strndup(a, n);
    int rc;

    if (s == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    rc = check_addr(s, key, e) < 0 ? -1 : task_list_add(out, s, e);
    free(s);
    return rc;
}

/* Python's re.split(r"\s*[,;]\s*", s): the pieces between separators, without blanks around
 * them; an empty piece ("a@x," or ";;") is no address (smtplib would send RCPT TO:<>). */
static int
split_addrs(const char *s, const char *key, struct task_list *out, struct err *e)
{
    while (isspace((unsigned char)*s))
        s++;
    for (;;) {
        size_t n = strcspn(s, ",;"), m = n;
        while (m > 0 && isspace((unsigned char)s[m - 1]))
            m--;
        if (m > 0 && add_addr(s, m, key, out, e) < 0) /* "a@x," has no second address */
            return -1;
        if (s[n] == '\0')
            return 0;
        s += n + 1;
        while (isspace((unsigned char)*s))
            s++;
    }
}

int
notify_mail_addrs(json_t *v, const char *key, struct task_list *out, struct err *e)
{
    size_t i;
    json_t *x;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return split_addrs(json_string_value(v), key, out, e);
    if (!json_is_array(v))
        return err_set(e, ERR_USAGE,
                       "%s: want an address, a list of them, or a string of them "
                       "separated by ',' or ';'",
                       key);
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x))
            return err_set(e, ERR_USAGE, "%s[%zu]: want a string", key, i);
        if (add_addr(json_string_value(x), json_string_length(x), key, out, e) < 0)
            return -1;
    }
    return 0;
}

const char *
notify_mail_addr_spec(const char *s, char *buf, size_t size)
{
    const char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    size_t n;

    if (lt && gt) {
        s = lt + 1;
        n = (size_t)(gt - s);
    } else {
        n = strlen(s);
    }
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= size)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static bool
plain_ascii(const char *s, size_t max)
{
    size_t n = 0;

    for (; *s; s++, n++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return n <= max;
}

char *
notify_mail_encode_header(const char *value)
{
    size_t len = strlen(value), i = 0, outlen = 0;
    char *out = NULL;
    FILE *f;

    if (plain_ascii(value, 76))
        return strdup(value);
    if ((f = open_memstream(&out, &outlen)) == NULL)
        return NULL;
    while (i < len) {
        size_t n = len - i > 45 ? 45 : len - i;
        unsigned char b64[64], chunk[45];
        /* back up to the start of a UTF-8 character (never below one byte) */
        while (n > 1 && i + n < len && ((unsigned char)value[i + n] & 0xc0) == 0x80)
            n--;
        memcpy(chunk, value + i, n);
        for (size_t k = 0; k < n; k++) /* line breaks would end the header */
            if (chunk[k] == '\r' || chunk[k] == '\n')
                chunk[k] = ' ';
        EVP_EncodeBlock(b64, chunk, (int)n);
        fprintf(f, "%s=?utf-8?b?%s?=", i ? "\r\n " : "", (char *)b64);
        i += n;
    }
    fclose(f);
    return out;
}

/* A header value on one line: CR and LF become spaces. */
static void
put_header(FILE *f, const char *name, const char *value)
{
    fprintf(f, "%s: ", name);
    for (; *value; value++)
        fputc(*value == '\r' || *value == '\n' ? ' ' : *value, f);
    fputs("\r\n", f);
}

static void
put_list(FILE *f, const char *name, const struct task_list *l)
{
    if (l == NULL || l->n == 0)
        return;
    fprintf(f, "%s: ", name);
    for (size_t i = 0; i < l->n; i++)
        fprintf(f, "%s%s", i ? ", " : "", l->v[i]);
    fputs("\r\n", f);
}

static bool
token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == ':')
            return false;
    return true;
}

static int
put_custom(FILE *f, json_t *headers, struct err *e)
{
    const char *k;
    json_t *v;

    if (headers == NULL || json_is_null(headers))
        return 0;
    if (!json_is_object(headers))
        return err_set(e, ERR_USAGE, "custom_headers: want an object");
    json_object_foreach(headers, k, v)
    {
        char *t = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
        if (!token(k)) {
            free(t);
            return err_set(e, ERR_USAGE, "custom_headers: \"%.60s\" is not a header name", k);
        }
        put_header(f, k, t ? t : "");
        free(t);
    }
    return 0;
}

static void
put_base64(FILE *f, const char *s)
{
    size_t len = strlen(s);
    unsigned char out[80];

    for (size_t i = 0; i < len; i += 57) {
        size_t n = len - i > 57 ? 57 : len - i;
        EVP_EncodeBlock(out, (const unsigned char *)s + i, (int)n);
        fprintf(f, "%s\r\n", (char *)out);
    }
}

/* The boundary: from the message id (unique per mail), never found in base64 text. */
static void
boundary_of(const char *id, char *buf, size_t size)
{
    unsigned long h = 5381;

    for (; *id; id++)
        h = h * 33 + (unsigned char)*id;
    snprintf(buf, size, "===============%019lu==", h);
}

static void
put_headers(FILE *f, const struct notify_mail *m, const char *boundary, time_t now)
{
    char date[64], *subject = notify_mail_encode_header(m->subject ? m->subject : "");
    struct tm tm;

    fprintf(f, "Content-Type: multipart/%s; boundary=\"%s\"\r\nMIME-Version: 1.0\r\n",
            m->mime_subtype ? m->mime_subtype : "mixed", boundary);
    fprintf(f, "Subject: %s\r\n", subject ? subject : "");
    free(subject);
    if (m->from)
        put_header(f, "From", m->from);
    put_list(f, "To", m->to);
    put_list(f, "CC", m->cc);
    localtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
    put_header(f, "Date", date);
    if (m->message_id)
        put_header(f, "Message-ID", m->message_id);
}

char *
notify_mail_build(const struct notify_mail *m, time_t now, struct err *e)
{
    char boundary[64], *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    if (f == NULL) {
        err_set(e, ERR_FAIL, "out of memory");
        return NULL;
    }
    boundary_of(m->message_id ? m->message_id : "", boundary, sizeof(boundary));
    put_headers(f, m, boundary, now);
    if (put_custom(f, m->custom_headers, e) < 0) {
        fclose(f);
        free(out);
        return NULL;
    }
    fprintf(f, "\r\n--%s\r\n", boundary);
    fprintf(f,
            "Content-Type: text/html; charset=\"%s\"\r\nMIME-Version: 1.0\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n",
            m->charset ? m->charset : "utf-8");
    put_base64(f, m->html ? m->html : "");
    fprintf(f, "\r\n--%s--\r\n", boundary);
    fclose(f);
    return out;
}
