/* randomuser: check randomuser.me answers and format a user into the users_created record.
 *
 * Key invariant: a record always has the twelve fields in the same order and a non-empty
 * string id (the Kafka key); everything else may be null, because rejecting dirty users is the
 * loader's job (with a reason in its dead letters), not the producer's. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "randomuser.h"

const char *const randomuser_fields[RANDOMUSER_FIELDS] = {
    "id",    "first_name", "last_name", "gender",          "address", "postal_code",
    "email", "username",   "dob",       "registered_date", "phone",   "picture",
};

int
randomuser_parse(const char *body, size_t size, json_t **root, json_t **results, struct err *e)
{
    json_error_t je;
    json_t *doc = json_loadb(body, size, 0, &je), *arr;

    if (root != NULL)
        *root = NULL;
    if (results != NULL)
        *results = NULL;
    if (doc == NULL)
        return err_set(e, ERR_PARSE, "not a JSON object: %s at line %d column %d", je.text, je.line,
                       je.column);
    arr = json_object_get(doc, "results");
    if (!json_is_array(arr)) {
        const char *msg = json_string_value(json_object_get(doc, "error"));
        err_set(e, ERR_PARSE, "%s%s", msg ? "the API said: " : "no \"results\" array",
                msg ? msg : "");
        json_decref(doc);
        return -1;
    }
    if (results != NULL)
        *results = arr;
    if (root != NULL)
        *root = doc;
    else
        json_decref(doc);
    return 0;
}

int
randomuser_validate(const char *body, size_t size, struct err *e)
{
    json_t *root, *results;

    if (randomuser_parse(body, size, &root, &results, e) < 0)
        return -1;
    size_t n = json_array_size(results);
    json_decref(root);
    return n > 0 ? 0 : err_set(e, ERR_PARSE, "\"results\" is empty");
}

/* obj.a.b (borrowed; NULL when any step is missing or not an object). */
static json_t *
path(const json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);

    return b == NULL ? v : json_object_get(v, b);
}

/* A copy of a string value, else null. */
static json_t *
text_of(json_t *v)
{
    return json_is_string(v) ? json_string(json_string_value(v)) : json_null();
}

/* A string or a number as text into buf; NULL for anything else. */
static const char *
scalar_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v) && isfinite(json_real_value(v))) {
        double d = json_real_value(v);
        if (d == trunc(d) && fabs(d) < 1e15)
            snprintf(buf, size, "%.0f", d);
        else
            snprintf(buf, size, "%.17g", d);
        return buf;
    }
    return NULL;
}

/* Append part to out (", " between parts); empty and missing parts are left out. */
static void
join(char *out, size_t size, const char *part)
{
    size_t len = strlen(out);

    if (part == NULL || part[0] == '\0' || len + 1 >= size)
        return;
    snprintf(out + len, size - len, "%s%s", len > 0 ? ", " : "", part);
}

/* "number street, city, state, country" from location; null when no part is there. */
static json_t *
address_of(const json_t *loc)
{
    char num[64], street[1024] = "", *out;
    const char *n = scalar_text(path(loc, "street", "number"), num, sizeof(num));
    const char *name = json_string_value(path(loc, "street", "name"));
    size_t size = 4096;
    json_t *j;

    if (n != NULL && n[0] != '\0' && name != NULL && name[0] != '\0')
        snprintf(street, sizeof(street), "%s %s", n, name);
    else
        snprintf(street, sizeof(street), "%s", name != NULL && name[0] ? name : n ? n : "");
    if ((out = calloc(1, size)) == NULL)
        return NULL;
    join(out, size, street);
    join(out, size, json_string_value(json_object_get(loc, "city")));
    join(out, size, json_string_value(json_object_get(loc, "state")));
    join(out, size, json_string_value(json_object_get(loc, "country")));
    j = out[0] != '\0' ? json_string(out) : json_null();
    free(out);
    return j;
}

static json_t *
postal_code_of(const json_t *loc)
{
    char buf[64];
    const char *s = scalar_text(json_object_get(loc, "postcode"), buf, sizeof(buf));

    return s != NULL ? json_string(s) : json_null();
}

json_t *
randomuser_format(const json_t *user, struct err *e)
{
    const char *uuid = json_string_value(path(user, "login", "uuid"));
    const json_t *loc;
    json_t *r;

    if (!json_is_object(user))
        return err_set(e, ERR_PARSE, "a user is not a JSON object"), NULL;
    if (uuid == NULL || uuid[0] == '\0')
        return err_set(e, ERR_PARSE, "a user without login.uuid"), NULL;
    loc = json_object_get(user, "location");
    r = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", uuid, "first_name",
        text_of(path(user, "name", "first")), "last_name", text_of(path(user, "name", "last")),
        "gender", text_of(json_object_get(user, "gender")), "address", address_of(loc),
        "postal_code", postal_code_of(loc), "email", text_of(json_object_get(user, "email")),
        "username", text_of(path(user, "login", "username")), "dob",
        text_of(path(user, "dob", "date")), "registered_date",
        text_of(path(user, "registered", "date")), "phone", text_of(json_object_get(user, "phone")),
        "picture", text_of(path(user, "picture", "medium")));
    if (r == NULL)
        err_set(e, ERR_FAIL, "out of memory formatting a user");
    return r;
}

json_t *
randomuser_record_from_text(const char *text, struct err *e)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je), *r = NULL;
    const char *id;

    if (j == NULL)
        return err_set(e, ERR_USAGE, "not JSON: %s at column %d", je.text, je.column), NULL;
    if (json_is_object(j) && json_object_get(j, "login") != NULL) {
        struct err fe = {0};
        if ((r = randomuser_format(j, &fe)) == NULL)
            err_set(e, ERR_USAGE, "%s", fe.msg);
    } else if (json_is_object(j) && (id = json_string_value(json_object_get(j, "id"))) != NULL &&
               id[0] != '\0') {
        r = json_incref(j);
    } else {
        err_set(e, ERR_USAGE,
                "neither a formatted user (an object with a string \"id\") nor an "
                "API user (with login.uuid)");
    }
    json_decref(j);
    return r;
}

static bool
ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int
randomuser_key(const json_t *record, char **key, struct err *e)
{
    const json_t *v = json_object_get(record, "email");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);

    *key = NULL;
    if (s == NULL)
        return 0;
    while (len > 0 && ascii_space(s[0]))
        s++, len--;
    while (len > 0 && ascii_space(s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if ((*key = malloc(len + 1)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    for (size_t i = 0; i < len; i++)
        (*key)[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 'a' - 'A') : s[i];
    (*key)[len] = '\0';
    return 0;
}

char *
randomuser_dump(const json_t *record)
{
    return json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
