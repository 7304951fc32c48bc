/* fernet: Fernet tokens as Python's `cryptography` makes them, and Airflow's MultiFernet.
 *
 * token = base64url(0x80 | timestamp (8 bytes, big-endian) | IV (16) | AES-128-CBC(PKCS7)
 *                   | HMAC-SHA256(signing key, everything before it))
 * A key is base64url of 32 bytes: the first 16 sign, the last 16 encrypt. Tokens are
 * verified (constant-time HMAC compare) before anything is decrypted. Like Airflow, no TTL
 * is applied. Key material never appears in a message. */
#include "fernet.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define VERSION 0x80
#define HEAD 25 /* version + timestamp + IV */
#define MAC 32

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url with '=' padding, as Python's base64.urlsafe_b64encode. New string. */
static char *
b64_encode(const unsigned char *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *p++ = b64url[(v >> 18) & 63];
        *p++ = b64url[(v >> 12) & 63];
        *p++ = i + 1 < len ? b64url[(v >> 6) & 63] : '=';
        *p++ = i + 2 < len ? b64url[v & 63] : '=';
    }
    *p = '\0';
    return out;
}

static int
b64_value(int c)
{
    const char *p = c ? strchr(b64url, c) : NULL;

    if (p)
        return (int)(p - b64url);
    return c == '+' ? 62 : c == '/' ? 63 : -1; /* the standard alphabet too, as Python */
}

/* Decode base64url (padding optional); new buffer and *len, NULL when malformed. */
static unsigned char *
b64_decode(const char *in, size_t *len)
{
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = malloc(n * 3 / 4 + 1);
    unsigned v = 0;
    int bits = 0;
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int d = b64_value((unsigned char)in[i]);
        if (d < 0) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(v >> bits);
            v &= (1u << bits) - 1;
        }
    }
    *len = o;
    return out;
}

int
fernet_parse(struct fernet *f, const char *keys, struct err *e)
{
    int item = 0;

    memset(f, 0, sizeof(*f));
    for (const char *p = keys ? keys : ""; *p;) {
        size_t n = strcspn(p, ","), len = 0;
        char tok[128];
        item++;
        while (n > 0 && (*p == ' ' || *p == '\t'))
            p++, n--;
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t' || p[m - 1] == '\n'))
            m--;
        if (m > 0) {
            unsigned char *raw = NULL;
            if (m < sizeof(tok)) {
                memcpy(tok, p, m);
                tok[m] = '\0';
                raw = b64_decode(tok, &len);
            }
            if (raw == NULL || len != 32) {
                free(raw);
                OPENSSL_cleanse(tok, sizeof(tok));
                return err_set(e, ERR_USAGE,
                               "Fernet key %d of the list is not 32 bytes of URL-safe base64",
                               item);
            }
            if (f->nkeys == FERNET_MAX_KEYS) {
                free(raw);
                return err_set(e, ERR_USAGE, "more than %d Fernet keys", FERNET_MAX_KEYS);
            }
            memcpy(f->sign[f->nkeys], raw, 16);
            memcpy(f->crypt[f->nkeys], raw + 16, 16);
            f->nkeys++;
            OPENSSL_cleanse(raw, len);
            OPENSSL_cleanse(tok, sizeof(tok));
            free(raw);
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

int
fernet_from_env(struct fernet *f, const char **source, struct err *e)
{
    static const char *const names[] = {"AIRFLOW__CORE__FERNET_KEY", "GUST_FERNET_KEY"};

    memset(f, 0, sizeof(*f));
    if (source)
        *source = NULL;
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        if (v == NULL || strspn(v, " \t\n,") == strlen(v))
            continue;
        if (source)
            *source = names[i];
        if (fernet_parse(f, v, e) < 0)
            return err_prefix(e, "%s", names[i]);
        return 0;
    }
    return 0;
}

/* Seal len bytes with key 0, timestamp ts and iv: the token. */
static char *
seal(const struct fernet *f, const void *data, size_t len, int64_t ts, const unsigned char *iv,
     struct err *e)
{
    size_t cap = HEAD + len + 16 + MAC;
    unsigned char *buf = malloc(cap);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    unsigned maclen = 0;
    char *out = NULL;

    if (buf == NULL || ctx == NULL) {
        err_set(e, ERR_FAIL, "fernet: out of memory");
        goto out;
    }
    buf[0] = VERSION;
    for (int i = 0; i < 8; i++)
        buf[1 + i] = (unsigned char)((uint64_t)ts >> (56 - 8 * i));
    memcpy(buf + 9, iv, 16);
    if (EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, f->crypt[0], iv) != 1 ||
        EVP_EncryptUpdate(ctx, buf + HEAD, &n1, data, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, buf + HEAD + n1, &n2) != 1 ||
        HMAC(EVP_sha256(), f->sign[0], 16, buf, (size_t)(HEAD + n1 + n2), buf + HEAD + n1 + n2,
             &maclen) == NULL) {
        err_set(e, ERR_FAIL, "fernet: encryption failed");
        goto out;
    }
    if ((out = b64_encode(buf, (size_t)(HEAD + n1 + n2) + maclen)) == NULL)
        err_set(e, ERR_FAIL, "fernet: out of memory");
out:
    EVP_CIPHER_CTX_free(ctx);
    if (buf)
        OPENSSL_cleanse(buf, cap);
    free(buf);
    return out;
}

char *
fernet_encrypt(const struct fernet *f, const void *data, size_t len, int64_t now, struct err *e)
{
    unsigned char iv[16];

    if (f->nkeys == 0) {
        err_set(e, ERR_USAGE, "fernet: no key");
        return NULL;
    }
    if (len > (size_t)1 << 30) {
        err_set(e, ERR_FAIL, "fernet: value too large");
        return NULL;
    }
    if (RAND_bytes(iv, sizeof(iv)) != 1) {
        err_set(e, ERR_FAIL, "fernet: no random bytes");
        return NULL;
    }
    return seal(f, data, len, now, iv, e);
}

/* Decrypt raw (verified with key k) into a new NUL-terminated buffer. */
static char *
open_with(const struct fernet *f, int k, const unsigned char *raw, size_t n, size_t *len)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t clen = n - HEAD - MAC;
    char *out = malloc(clen + 17);
    int n1 = 0, n2 = 0;

    if (ctx == NULL || out == NULL ||
        EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, f->crypt[k], raw + 9) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &n1, raw + HEAD, (int)clen) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n1, &n2) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        free(out);
        return NULL;
    }
    EVP_CIPHER_CTX_free(ctx);
    out[n1 + n2] = '\0';
    *len = (size_t)(n1 + n2);
    return out;
}

char *
fernet_decrypt(const struct fernet *f, const char *token, size_t *len, int64_t *ts, struct err *e)
{
    size_t n = 0, plen = 0;
    unsigned char *raw = token ? b64_decode(token, &n) : NULL;
    char *out = NULL;

    if (f->nkeys == 0) {
        free(raw);
        err_set(e, ERR_USAGE, "no Fernet key is set (AIRFLOW__CORE__FERNET_KEY)");
        return NULL;
    }
    if (raw && n >= HEAD + 16 + MAC && raw[0] == VERSION && (n - HEAD - MAC) % 16 == 0) {
        for (int k = 0; k < f->nkeys && out == NULL; k++) {
            unsigned char mac[MAC];
            unsigned maclen = 0;
            if (HMAC(EVP_sha256(), f->sign[k], 16, raw, n - MAC, mac, &maclen) == NULL ||
                CRYPTO_memcmp(mac, raw + n - MAC, MAC) != 0)
                continue;
            out = open_with(f, k, raw, n, &plen);
        }
    }
    if (out && ts) {
        uint64_t t = 0;
        for (int i = 0; i < 8; i++)
            t = t << 8 | raw[1 + i];
        *ts = (int64_t)t;
    }
    free(raw);
    if (out == NULL) {
        err_set(e, ERR_PARSE, "invalid Fernet token (wrong key, or not a Fernet value)");
        return NULL;
    }
    if (len)
        *len = plen;
    return out;
}

char *
fernet_rotate(const struct fernet *f, const char *token, struct err *e)
{
    size_t len = 0;
    int64_t ts = 0;
    char *plain = fernet_decrypt(f, token, &len, &ts, e), *out;
    unsigned char iv[16];

    if (plain == NULL)
        return NULL;
    if (RAND_bytes(iv, sizeof(iv)) != 1) {
        err_set(e, ERR_FAIL, "fernet: no random bytes");
        out = NULL;
    } else {
        out = seal(f, plain, len, ts, iv, e);
    }
    OPENSSL_cleanse(plain, len);
    free(plain);
    return out;
}

int
fernet_generate_key(char buf[45], struct err *e)
{
    unsigned char raw[32];
    char *s;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return err_set(e, ERR_FAIL, "fernet: no random bytes");
    if ((s = b64_encode(raw, sizeof(raw))) == NULL)
        return err_set(e, ERR_FAIL, "fernet: out of memory");
    memcpy(buf, s, 45);
    free(s);
    return 0;
}
