/* randomuser: the randomuser.me API at the tasks' edge (issue 6, user_automation).
 *
 * An answer of GET /api/?results=N checked and unpacked, and one API user formatted into the
 * flat record the original get_and_format_data produced, which is also the message format of
 * topic users_created (the loader's input):
 *
 *   {"id": login.uuid, "first_name", "last_name", "gender",
 *    "address": "number street, city, state, country", "postal_code": always a string,
 *    "email", "username", "dob": dob.date, "registered_date": registered.date, "phone",
 *    "picture": picture.medium}
 *
 * Values are copied as the source sent them: no cleaning here (spaces, case and punctuation are
 * the loader's business, so its dead letters see the raw data). Pure code: no I/O. */
#ifndef GUST_RANDOMUSER_H
#define GUST_RANDOMUSER_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

#define RANDOMUSER_FIELDS 12
#define RANDOMUSER_MAX_BATCH 5000 /* the API's largest ?results= */

/* The record's field names, in order (RANDOMUSER_FIELDS of them). */
extern const char *const randomuser_fields[RANDOMUSER_FIELDS];

/* Check one answer body: a JSON object whose "results" is an array (the API's own error
 * envelope {"error": "..."} is ERR_PARSE with its text). On success *root gets the document
 * (new reference; NULL allowed to only validate) and *results the array (borrowed from *root).
 */
int randomuser_parse(const char *body, size_t size, json_t **root, json_t **results, struct err *e);

/* randomuser_parse as an http_validate_fn that also wants at least one user. */
int randomuser_validate(const char *body, size_t size, struct err *e);

/* The flat record of one API user (new reference), fields in order. A missing or null part is
 * null; address joins the parts present ("number street", city, state, country) with ", "
 * and is null when none is; postal_code is the postcode as text (a number is written in
 * decimal). The user must be an object with a non-empty login.uuid string (the record's id):
 * otherwise NULL with ERR_PARSE (ERR_FAIL when out of memory). */
json_t *randomuser_format(const json_t *user, struct err *e);

/* A flat record given on the command line (--first-user): an object with a non-empty "id"
 * string is taken as is (new reference); an API user (with "login") is formatted. NULL with
 * ERR_USAGE otherwise. */
json_t *randomuser_record_from_text(const char *text, struct err *e);

/* The record's Kafka message key, its business key: the email as created_users stores it
 * (ASCII whitespace trimmed at both ends, ASCII letters lower-cased, as the users loader does),
 * so every version of one user lands in one partition, in the order it was sent. *key gets it
 * (malloc'd, the caller frees) or NULL when the record has none (email missing, null, not a
 * string, or blank): such a record is sent without a key and the loader dead-letters it.
 * -1 (ERR_FAIL) only when out of memory. */
int randomuser_key(const json_t *record, char **key, struct err *e);

/* Serialise a record: compact UTF-8 JSON, no ASCII escaping, fields in order (malloc'd, the
 * caller frees; NULL when out of memory). */
char *randomuser_dump(const json_t *record);

#endif
