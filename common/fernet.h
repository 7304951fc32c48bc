/* fernet: the Fernet token format (AES-128-CBC + HMAC-SHA256, URL-safe base64, version
 * byte 0x80, 64-bit timestamp) byte-compatible with Python's `cryptography` Fernet, and
 * Airflow's MultiFernet over a comma-separated key list: encrypt with the first key, decrypt
 * with any. Keys come from AIRFLOW__CORE__FERNET_KEY, else GUST_FERNET_KEY. */
#ifndef GUST_FERNET_H
#define GUST_FERNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define FERNET_MAX_KEYS 8

struct fernet {
    int nkeys; /* 0: no key, values are stored in plain text */
    unsigned char sign[FERNET_MAX_KEYS][16], crypt[FERNET_MAX_KEYS][16];
};

/* Parse a comma-separated list of URL-safe base64 32-byte keys (blanks around commas and
 * empty items are ignored). ERR_USAGE naming the bad item's position, never its text. */
int fernet_parse(struct fernet *f, const char *keys, struct err *e);

/* The keys of AIRFLOW__CORE__FERNET_KEY, else GUST_FERNET_KEY; f->nkeys 0 when neither is set
 * (or both are empty). *source (if not NULL) gets the variable's name or NULL. */
int fernet_from_env(struct fernet *f, const char **source, struct err *e);

/* Encrypt len bytes with the first key at time now (seconds since the epoch): a new
 * NUL-terminated token. */
char *fernet_encrypt(const struct fernet *f, const void *data, size_t len, int64_t now,
                     struct err *e);

/* Decrypt a token with any key: new buffer (NUL-terminated, *len without the NUL), its
 * timestamp in *ts (if not NULL). ERR_PARSE "invalid token" when no key verifies it. */
char *fernet_decrypt(const struct fernet *f, const char *token, size_t *len, int64_t *ts,
                     struct err *e);

/* Airflow's rotate: decrypt with any key, encrypt with the first, keeping the timestamp. */
char *fernet_rotate(const struct fernet *f, const char *token, struct err *e);

/* A new random key, URL-safe base64 (44 characters + NUL) into buf. */
int fernet_generate_key(char buf[45], struct err *e);

#endif
