/* ghavro_tool: GitHub events <-> Avro object containers with tasks/lib/ghavro, for tests and
 * for people.
 *
 *   ghavro_tool encode [--codec deflate|null] < events.jsonl > out.avro
 *   ghavro_tool decode < in.avro > records.jsonl
 *
 * encode reads one JSON object per line, {"event_id": "...", "metric": <GitHub event>} (the
 * shape the collector posts to Kafka's producer side), and writes one container with one
 * record per line, in order; blank lines are skipped. A line that is not such an object or an
 * event ghavro_check refuses stops it with "line N: why" (exit 1).
 * decode prints every record as one compact JSON line (the fields of ghavro.h, actor and repo
 * nested, payload as its JSON text or null); a record that does not match the schema prints
 * "record N: why" on stderr instead. Exit 0 when the container was read to the end (even with
 * such records), 1 when it is unreadable or stops being readable (the reason on stderr, after
 * the records before it), 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ghavro.h"

/* One input line into w. */
static int
add_line(struct ghavro_enc *w, const char *line, size_t lineno, struct err *e)
{
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    const char *eid = json_string_value(json_object_get(j, "event_id"));
    const json_t *event = json_object_get(j, "metric");
    int rc;

    if (j == NULL)
        rc = err_set(e, ERR_PARSE, "line %zu: bad JSON: %s", lineno, je.text);
    else if (eid == NULL || event == NULL)
        rc = err_set(e, ERR_PARSE,
                     "line %zu: an object with event_id (a string) and metric "
                     "expected",
                     lineno);
    else if ((rc = ghavro_enc_add(w, eid, event, e)) < 0)
        err_prefix(e, "line %zu", lineno);
    json_decref(j);
    return rc;
}

static int
encode(const char *codec)
{
    struct err e = {0};
    struct ghavro_enc *w = ghavro_enc_new(codec, &e);
    char *line = NULL, *buf;
    size_t cap = 0, lineno = 0, len;
    ssize_t n;
    int rc = 0;

    if (w == NULL) {
        fprintf(stderr, "ghavro_tool: %s\n", e.msg);
        return 2;
    }
    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] != '\0')
            rc = add_line(w, line, lineno, &e);
    }
    free(line);
    if (rc < 0 || ghavro_enc_finish(w, &buf, &len, &e) < 0) {
        if (rc < 0)
            ghavro_enc_free(w);
        fprintf(stderr, "ghavro_tool: %s\n", e.msg);
        return 1;
    }
    rc = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
    free(buf);
    return rc;
}

static int
print_record(void *arg, size_t index, const json_t *rec, const char *problem, struct err *e)
{
    char *text;

    (void)arg;
    (void)index;
    (void)e;
    if (problem) {
        fprintf(stderr, "%s\n", problem);
        return 0;
    }
    if ((text = json_dumps(rec, JSON_COMPACT)) == NULL)
        return err_set(e, ERR_FAIL, "out of memory");
    printf("%s\n", text);
    free(text);
    return 0;
}

static int
decode(void)
{
    char *buf = NULL, chunk[65536];
    size_t len = 0, n;
    struct err e = {0};
    int rc;

    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        char *nb = realloc(buf, len + n);
        if (nb == NULL) {
            free(buf);
            fprintf(stderr, "ghavro_tool: out of memory\n");
            return 1;
        }
        buf = nb;
        memcpy(buf + len, chunk, n);
        len += n;
    }
    rc = ghavro_decode(buf, len, print_record, NULL, &e);
    free(buf);
    if (rc != 0)
        fprintf(stderr, "ghavro_tool: %s\n", e.msg);
    return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "decode") == 0)
        return decode();
    if (argc == 2 && strcmp(argv[1], "encode") == 0)
        return encode("deflate");
    if (argc == 4 && strcmp(argv[1], "encode") == 0 && strcmp(argv[2], "--codec") == 0)
        return encode(argv[3]);
    fprintf(stderr, "usage: ghavro_tool encode [--codec deflate|null] < events.jsonl > out.avro\n"
                    "       ghavro_tool decode < in.avro\n");
    return 2;
}
