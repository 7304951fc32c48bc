/* dagfile_notify: callbacks and e-mail settings -> struct dag_notifiers (docs/dag-files.md,
 * "Notifications").
 *
 * dag-factory turns `on_failure_callback: {callback: P, k: v, ...}` into P(k=v, ...) (a
 * notifier instance) and a list into a list of them; a plain string is a Python callable, and
 * `<event>_name` / `<event>_file` name a function in a Python file (the key table refuses
 * those). gust runs three of Airflow's notifiers itself, as a process after the state change:
 * the Slack incoming-webhook notifier, the SMTP notifier and the HTTP notifier, each by its
 * class or its function name (the same object in the providers). Anything else is a load
 * error at the callback, naming it. A notifier keeps its connection id (defaulted as the
 * provider does) and every other argument as written, in a JSON object whose strings are
 * rendered as templates when the callback runs; an argument the provider does not take is an
 * error (Airflow's TypeError), one gust cannot honour is refused with what to do instead.
 * `email` with email_on_failure / email_on_retry (default true) becomes an SMTP notifier with
 * Airflow's default subject and body, last on the failure and the retry event.
 * Invariant: a callback in default_args is read again for every task; an error it has is kept
 * once per DAG and place (each task still counts it, so the DAG is still left out). */
#include "dagfile_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "template/template.h"

/* Airflow's default e-mail (TaskInstance.get_email_subject_content), in gust's templates. */
#define EMAIL_SUBJECT                                                                              \
    "Airflow alert: <TaskInstance: {{ ti.dag_id }}.{{ ti.task_id }} {{ ti.run_id }} "              \
    "[{{ ti.state }}]>"
#define EMAIL_HTML                                                                                 \
    "Try {{ ti.try_number }} out of {{ ti.max_tries + 1 }}<br>Exception:<br>{{ exception_html "    \
    "}}<br>Log: {{ ti.log_url }}<br>Host: {{ ti.hostname }}<br>"

enum atype {
    A_STR,     /* a string */
    A_STRS,    /* a string or a list of strings (addresses) */
    A_LIST,    /* a list (Slack blocks, attachments) */
    A_BOOL,    /* true or false */
    A_NUM,     /* a number above 0 (seconds) */
    A_OBJ,     /* a mapping of strings (headers) */
    A_ANY,     /* any value (an HTTP JSON body) */
    A_REFUSED, /* the provider takes it, gust cannot honour it: why */
};

struct narg {
    const char *name;
    enum atype type;
    const char *why; /* A_REFUSED: what to do instead */
    const char *ok;  /* A_REFUSED: the provider's default, accepted as it changes nothing */
};

static const struct narg slack_args[] = {
    {"text", A_STR, NULL, NULL},
    {"blocks", A_LIST, NULL, NULL},
    {"attachments", A_LIST, NULL, NULL},
    {"unfurl_links", A_BOOL, NULL, NULL},
    {"unfurl_media", A_BOOL, NULL, NULL},
    {"timeout", A_NUM, NULL, NULL},
    {"proxy", A_REFUSED,
     "set the proxy in the scheduler's environment (https_proxy, which libcurl reads) and "
     "remove it",
     NULL},
    {"retry_handlers", A_REFUSED, "it takes Python objects, which gust cannot run: remove it",
     NULL},
    {NULL, A_STR, NULL, NULL},
};

static const struct narg smtp_args[] = {
    {"to", A_STRS, NULL, NULL},
    {"from_email", A_STR, NULL, NULL},
    {"mail_from", A_STR, NULL, NULL}, /* the provider's first name of from_email */
    {"subject", A_STR, NULL, NULL},
    {"html_content", A_STR, NULL, NULL},
    {"cc", A_STRS, NULL, NULL},
    {"bcc", A_STRS, NULL, NULL},
    {"files", A_REFUSED, "gust's mail has no attachments: remove it (link to the file instead)",
     NULL},
    {"custom_headers", A_REFUSED, "gust's mail has its own headers only: remove it", NULL},
    {"mime_subtype", A_REFUSED, "gust sends one HTML part: remove it", "mixed"},
    {"mime_charset", A_REFUSED, "gust's mail is UTF-8: remove it", "utf-8"},
    {"auth_type", A_REFUSED,
     "gust logs in with the connection's login and password (basic): remove it", "basic"},
    {"template", A_REFUSED, "gust reads no template file for a mail: put the HTML in html_content",
     NULL},
    {NULL, A_STR, NULL, NULL},
};

static const struct narg http_args[] = {
    {"endpoint", A_STR, NULL, NULL},
    {"method", A_STR, NULL, NULL},
    {"headers", A_OBJ, NULL, NULL},
    {"json", A_ANY, NULL, NULL},
    {"data", A_STR, NULL, NULL},
    {"extra_options", A_REFUSED,
     "options of Python's requests library are not taken by gust's notifier: remove it", NULL},
    {NULL, A_STR, NULL, NULL},
};

/* A notifier gust runs: its module, class and function names (module.cls and module.fn are
 * the same object in the provider), another path of the class (a package re-exporting it),
 * its connection argument and default, and the argument it cannot do without. */
struct ndef {
    enum notifier_kind kind;
    const char *module, *cls, *fn, *alias;
    const char *conn_key, *conn_default;
    const char *required;
    const struct narg *args;
};

static const struct ndef defs[] = {
    {NOTIFY_SLACK_WEBHOOK, "airflow.providers.slack.notifications.slack_webhook",
     "SlackWebhookNotifier", "send_slack_webhook_notification", NULL, "slack_webhook_conn_id",
     "slack_default", "text", slack_args},
    {NOTIFY_SMTP, "airflow.providers.smtp.notifications.smtp", "SmtpNotifier",
     "send_smtp_notification", NULL, "smtp_conn_id", "smtp_default", "to", smtp_args},
    {NOTIFY_HTTP, "airflow.providers.http.notifications.http", "HttpNotifier",
     "send_http_notification", "airflow.providers.http.notifications.HttpNotifier", "http_conn_id",
     "http_default", NULL, http_args},
};
#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

/* What is being read: the callback key, "task 't': " when the value is the task's own (a
 * value from default_args reads the same for every task), the DAG's params. */
struct nctx {
    struct loadctx *c;
    const char *key;
    const char *who;
    const char *params;
};

const char *
dagfile_notifier_kind_name(enum notifier_kind k)
{
    return k == NOTIFY_SLACK_WEBHOOK ? "slack_webhook" : k == NOTIFY_SMTP ? "smtp" : "http";
}

static void
notifier_clear(struct dag_notifier *n)
{
    free(n->callback);
    free(n->conn_id);
    free(n->args_json);
    memset(n, 0, sizeof(*n));
}

void
dagfile_notifiers_clear(struct dag_notifiers *on)
{
    for (size_t ev = 0; ev < NOTIFY_EVENTS; ev++) {
        for (size_t i = 0; i < on[ev].n; i++)
            notifier_clear(&on[ev].v[i]);
        free(on[ev].v);
        on[ev].v = NULL;
        on[ev].n = 0;
    }
}

/* Append a copy of n to ns. -1: out of memory (ns unchanged). */
static int
push_copy(struct dag_notifiers *ns, const struct dag_notifier *n)
{
    struct dag_notifier *grown = realloc(ns->v, (ns->n + 1) * sizeof(*grown)), *to;

    if (grown == NULL)
        return -1;
    ns->v = grown;
    to = &grown[ns->n];
    *to = *n;
    to->callback = dagfile_strdup(n->callback);
    to->conn_id = dagfile_strdup(n->conn_id);
    to->args_json = dagfile_strdup(n->args_json);
    if ((n->callback && !to->callback) || (n->conn_id && !to->conn_id) ||
        (n->args_json && !to->args_json)) {
        notifier_clear(to);
        return -1;
    }
    ns->n++;
    return 0;
}

void
dagfile_notifiers_dup(struct dag_notifiers *to, const struct dag_notifiers *from, bool *ok)
{
    for (size_t ev = 0; ev < NOTIFY_EVENTS; ev++) {
        to[ev] = (struct dag_notifiers){NULL, 0};
        for (size_t i = 0; i < from[ev].n; i++)
            if (push_copy(&to[ev], &from[ev].v[i]) < 0)
                *ok = false;
    }
}

/* Drop the diagnostics from index `before` on that repeat an earlier one of the same DAG
 * (same level, place and text): a default_args callback's error, read for each task. */
static void
dedupe_since(struct loadctx *c, size_t before)
{
    struct dagbag *bag = c->bag;

    for (size_t i = before; i < bag->n_diags;) {
        const struct dag_diag *d = &bag->diags[i];
        bool dup = false;
        for (size_t j = 0; j < before && !dup; j++) {
            const struct dag_diag *o = &bag->diags[j];
            dup = o->level == d->level && o->line == d->line && o->col == d->col &&
                  strcmp(o->file, d->file) == 0 && strcmp(o->msg, d->msg) == 0 &&
                  (o->dag_id == d->dag_id ||
                   (o->dag_id && d->dag_id && strcmp(o->dag_id, d->dag_id) == 0));
        }
        if (!dup) {
            i++;
            continue;
        }
        free(bag->diags[i].file), free(bag->diags[i].dag_id), free(bag->diags[i].msg);
        memmove(&bag->diags[i], &bag->diags[i + 1], (bag->n_diags - i - 1) * sizeof(*d));
        bag->n_diags--;
    }
}

/* The notifier path names, or NULL. */
static const struct ndef *
ndef_find(const char *path)
{
    for (size_t i = 0; i < N_DEFS; i++) {
        const struct ndef *d = &defs[i];
        size_t m = strlen(d->module);
        if (strncmp(path, d->module, m) == 0 && path[m] == '.' &&
            (strcmp(path + m + 1, d->cls) == 0 || strcmp(path + m + 1, d->fn) == 0))
            return d;
        if (d->alias != NULL && strcmp(path, d->alias) == 0)
            return d;
    }
    return NULL;
}

static const struct narg *
narg_find(const struct ndef *d, const char *name)
{
    for (const struct narg *a = d->args; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* "slack_webhook_conn_id, text, blocks, ...": the arguments the notifier takes in gust. */
static const char *
narg_list(const struct ndef *d, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s", d->conn_key);

    for (const struct narg *a = d->args; a->name != NULL && used < size; a++)
        if (a->type != A_REFUSED && strcmp(a->name, "mail_from") != 0)
            used += (size_t)snprintf(buf + used, size - used, ", %s", a->name);
    return buf;
}

/* A JSON value of the subtree (NULL: out of memory). */
static json_t *
tree_json(const struct ynode *v)
{
    char *text = ynode_to_json(v);
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

    free(text);
    return j;
}

/* A string, or a list of strings, as JSON (NULL when v is neither). */
static json_t *
strs_json(const struct ynode *v, bool list_ok)
{
    json_t *j;

    if (v->kind == YN_SCALAR)
        return json_string_nocheck(v->str);
    if (v->kind != YN_SEQ || !list_ok || (j = json_array()) == NULL)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->kind != YN_SCALAR ||
            json_array_append_new(j, json_string_nocheck(v->items[i]->str)) < 0) {
            json_decref(j);
            return NULL;
        }
    return j;
}

/* A mapping of strings as a JSON object (NULL when v is not one). */
static json_t *
obj_json(const struct ynode *v)
{
    json_t *j = v->kind == YN_MAP ? json_object() : NULL;

    for (size_t i = 0; j != NULL && i < v->n; i++)
        if (ymap_key(v, i)->kind != YN_SCALAR || ymap_val(v, i)->kind != YN_SCALAR ||
            json_object_set_new_nocheck(j, ymap_key(v, i)->str,
                                        json_string_nocheck(ymap_val(v, i)->str)) < 0) {
            json_decref(j);
            return NULL;
        }
    return j;
}

/* The value of an argument typed as the notifier takes it, or NULL after an error. */
static json_t *
arg_value(struct nctx *x, const char *cb, const struct narg *a, const struct ynode *v)
{
    static const char *const wants[] = {[A_STR] = "a string",
                                        [A_STRS] = "a string or a list of strings",
                                        [A_LIST] = "a list",
                                        [A_BOOL] = "true or false",
                                        [A_NUM] = "a number of seconds above 0",
                                        [A_OBJ] = "a mapping of strings",
                                        [A_ANY] = "a value",
                                        [A_REFUSED] = "absent"};
    json_t *j = NULL;
    bool b;
    double d;

    if (a->type == A_STR || a->type == A_STRS)
        j = strs_json(v, a->type == A_STRS);
    else if (a->type == A_LIST)
        j = v->kind == YN_SEQ ? tree_json(v) : NULL;
    else if (a->type == A_BOOL)
        j = ynode_bool(v, &b) == 0 ? json_boolean(b) : NULL;
    else if (a->type == A_NUM)
        j = ynode_double(v, &d) < 0 || !(d > 0) ? NULL
            : d == floor(d) && d < 1e15         ? json_integer((json_int_t)d)
                                                : json_real(d);
    else if (a->type == A_OBJ)
        j = obj_json(v);
    else if (a->type == A_ANY)
        j = tree_json(v);
    if (j == NULL)
        dagfile_error(x->c, v, "%s%s '%s': %s must be %s, not %s", x->who, x->key, cb, a->name,
                      wants[a->type], ynode_what(v));
    return j;
}

/* A refused argument: 0 when its value is null or the provider's default. */
static int
refused_arg(struct nctx *x, const char *cb, const struct narg *a, const struct ynode *k,
            const struct ynode *v)
{
    if (a->ok != NULL && v->kind == YN_SCALAR && strcasecmp(v->str, a->ok) == 0)
        return 0;
    dagfile_error(x->c, k, "%s%s '%s': argument '%s' is not supported: %s", x->who, x->key, cb,
                  a->name, a->why);
    return -1;
}

/* The connection argument: a plain connection id (not a template). */
static int
conn_arg(struct nctx *x, const char *cb, const struct ynode *v, struct dag_notifier *n)
{
    if (v->kind != YN_SCALAR || tmpl_has_syntax(v->str)) {
        dagfile_error(x->c, v, "%s%s '%s': the connection id must be a plain string, not %s",
                      x->who, x->key, cb, v->kind == YN_SCALAR ? "a template" : ynode_what(v));
        return -1;
    }
    free(n->conn_id);
    if ((n->conn_id = strdup(v->str)) == NULL)
        return dagfile_error(x->c, v, "out of memory"), -1;
    return 0;
}

/* One argument (k: v) of notifier d into args (or n->conn_id). -1 after an error. */
static int
read_arg(struct nctx *x, const struct ndef *d, const char *cb, const struct ynode *k,
         const struct ynode *v, struct dag_notifier *n, json_t *args)
{
    const struct narg *a;
    char list[400], path[300];
    json_t *j;

    if (k->kind == YN_SCALAR && strcmp(k->str, d->conn_key) == 0)
        return ynode_is_null(v) ? 0 : conn_arg(x, cb, v, n);
    if (k->kind != YN_SCALAR || (a = narg_find(d, k->str)) == NULL) {
        dagfile_error(x->c, k, "%s%s '%s': unknown argument '%s' (%s takes %s)", x->who, x->key, cb,
                      k->kind == YN_SCALAR ? k->str : ynode_what(k), d->cls,
                      narg_list(d, list, sizeof(list)));
        return -1;
    }
    if (ynode_is_null(v))
        return 0; /* None: the provider's default */
    if (a->type == A_REFUSED)
        return refused_arg(x, cb, a, k, v);
    if ((j = arg_value(x, cb, a, v)) == NULL)
        return -1;
    const char *name = strcmp(a->name, "mail_from") == 0 ? "from_email" : a->name;
    if (json_object_get(args, name) != NULL) {
        json_decref(j);
        if (strcmp(name, "from_email") == 0)
            dagfile_error(x->c, k, "%s%s '%s': give from_email or mail_from, not both", x->who,
                          x->key, cb);
        else
            dagfile_error(x->c, k, "%s%s '%s': argument '%s' is given twice", x->who, x->key, cb,
                          name);
        return -1;
    }
    json_object_set_new(args, name, j);
    snprintf(path, sizeof(path), "%s.%s", x->key, a->name);
    if (a->type != A_BOOL && a->type != A_NUM)
        return dagfile_check_tree_templates(x->c, v, path, x->params) ? -1 : 0;
    return 0;
}

/* The arguments of mapping e (notifier d, its path cb) into n. -1 after an error. */
static int
read_args(struct nctx *x, const struct ndef *d, const char *cb, const struct ynode *e,
          struct dag_notifier *n)
{
    json_t *args = json_object();
    int bad = 0;

    if (args == NULL)
        return dagfile_error(x->c, e, "out of memory"), -1;
    for (size_t i = 0; i < e->n; i++)
        if (ymap_key(e, i)->kind != YN_SCALAR || strcmp(ymap_key(e, i)->str, "callback") != 0)
            bad |= read_arg(x, d, cb, ymap_key(e, i), ymap_val(e, i), n, args);
    if (!bad && d->required != NULL && json_object_get(args, d->required) == NULL) {
        dagfile_error(x->c, e, "%s%s '%s': %s needs the argument '%s'", x->who, x->key, cb, d->cls,
                      d->required);
        bad = 1;
    }
    if (!bad && (n->args_json = json_dumps(args, JSON_COMPACT)) == NULL) {
        dagfile_error(x->c, e, "out of memory");
        bad = 1;
    }
    json_decref(args);
    return bad ? -1 : 0;
}

/* The callback a string names: a Python callable, or a notifier without its arguments. */
static void
string_callback(struct nctx *x, const struct ynode *e)
{
    if (ndef_find(e->str) != NULL)
        dagfile_error(x->c, e,
                      "%s%s: '%s' without its arguments is the notifier class itself, not a "
                      "notifier: write {callback: %s, <its arguments>}",
                      x->who, x->key, e->str, e->str);
    else
        dagfile_error(x->c, e,
                      "%s%s: '%s' names a Python callable, which gust cannot run: use a "
                      "notifier gust runs, {callback: <notifier>, <its arguments>} (see "
                      "docs/dag-files.md, \"Notifications\")",
                      x->who, x->key, e->str);
}

/* One callback entry (a mapping with callback) appended to out. -1 after an error. */
static int
read_entry(struct nctx *x, const struct ynode *e, struct dag_notifiers *out)
{
    const struct ynode *cb = e->kind == YN_MAP ? ymap_get(e, "callback") : NULL;
    struct dag_notifier n = {.line = e->line, .col = e->col};
    const struct ndef *d;
    int rc = -1;

    if (e->kind == YN_SCALAR && strcmp(ynode_what(e), "a string") == 0)
        return string_callback(x, e), -1;
    if (e->kind != YN_MAP) {
        dagfile_error(x->c, e,
                      "%s%s: a callback must be a mapping {callback: <notifier>, ...}, "
                      "not %s",
                      x->who, x->key, ynode_what(e));
        return -1;
    }
    if (cb == NULL || cb->kind != YN_SCALAR || ynode_is_null(cb)) {
        dagfile_error(x->c, cb ? cb : e,
                      "%s%s: a callback mapping needs 'callback', the "
                      "notifier's path as a string",
                      x->who, x->key);
        return -1;
    }
    if ((d = ndef_find(cb->str)) == NULL) {
        dagfile_error(x->c, cb,
                      "%s%s: '%s' is not a notifier gust runs (it runs the Slack webhook, SMTP "
                      "and HTTP notifiers: send_slack_webhook_notification, "
                      "send_smtp_notification, send_http_notification or their classes; see "
                      "docs/dag-files.md, \"Notifications\")",
                      x->who, x->key, cb->str);
        return -1;
    }
    n.kind = d->kind;
    if (read_args(x, d, cb->str, e, &n) == 0) {
        if ((n.callback = strdup(cb->str)) == NULL ||
            (n.conn_id == NULL && (n.conn_id = strdup(d->conn_default)) == NULL) ||
            push_copy(out, &n) < 0)
            dagfile_error(x->c, e, "out of memory");
        else
            rc = 0;
    }
    notifier_clear(&n);
    return rc;
}

/* A callback value: null, one entry, or a list of entries. */
static int
read_callbacks(struct nctx *x, const struct ynode *v, struct dag_notifiers *out)
{
    int bad = 0;

    if (v == NULL || ynode_is_null(v))
        return 0;
    if (v->kind != YN_SEQ)
        return read_entry(x, v, out);
    for (size_t i = 0; i < v->n; i++)
        bad |= read_entry(x, v->items[i], out);
    return bad ? -1 : 0;
}

/* "task 't': " when v is in the task's own mapping, else "" (into buf). */
static const char *
who_text(const struct chain *ch, const struct ynode *v, const char *sid, char *buf, size_t size)
{
    buf[0] = '\0';
    if (v != NULL && ch->n > 0 && dagfile_owner(ch, v) == ch->maps[0])
        snprintf(buf, size, "task '%s': ", sid);
    return buf;
}

/* Airflow's get_email_address_list: a string split at ',' and ';' (blanks around them and
 * empty pieces dropped), or a list of strings. NULL after an error. */
static json_t *
email_list(struct nctx *x, const struct ynode *v)
{
    json_t *to = v->kind == YN_SEQ ? strs_json(v, true) : json_array();

    if (to == NULL || v->kind == YN_MAP) {
        dagfile_error(x->c, v,
                      "%semail must be an address, a list of addresses or a string "
                      "of them separated by ',' or ';', not %s",
                      x->who, ynode_what(v));
        json_decref(to);
        return NULL;
    }
    for (const char *p = v->kind == YN_SCALAR ? v->str : ""; *p;) {
        size_t len = strcspn(p, ",;");
        const char *s = p, *end = p + len;
        while (s < end && strchr(" \t\r\n", *s))
            s++;
        while (end > s && strchr(" \t\r\n", end[-1]))
            end--;
        if (end > s)
            json_array_append_new(to, json_stringn_nocheck(s, (size_t)(end - s)));
        p += len + (p[len] != '\0');
    }
    return to;
}

/* email, email_on_failure and email_on_retry of a task: an SMTP notifier with Airflow's
 * default subject and body, on the failure event and the retry event. */
static int
read_email(struct nctx *x, const struct chain *ch, struct dag_task *t, const char *sid)
{
    const struct ynode *v = dagfile_cget(ch, "email");
    bool fail = true, retry = true;
    char who[300];
    json_t *to;
    int rc = 0;

    rc |= dagfile_read_bool(x->c, dagfile_cget(ch, "email_on_failure"), "email_on_failure", &fail);
    rc |= dagfile_read_bool(x->c, dagfile_cget(ch, "email_on_retry"), "email_on_retry", &retry);
    if (v == NULL || ynode_is_null(v))
        return rc ? -1 : 0;
    x->who = who_text(ch, v, sid, who, sizeof(who));
    if ((to = email_list(x, v)) == NULL || rc != 0) {
        json_decref(to);
        return -1;
    }
    json_t *args = json_pack("{s:o, s:s, s:s}", "to", to, "subject", EMAIL_SUBJECT, "html_content",
                             EMAIL_HTML);
    struct dag_notifier n = {NOTIFY_SMTP, "email", "smtp_default", NULL, true, v->line, v->col};
    if (args != NULL && json_array_size(to) > 0 &&
        (n.args_json = json_dumps(args, JSON_COMPACT)) != NULL)
        rc = (fail && push_copy(&t->on[NOTIFY_ON_FAILURE], &n) < 0) ||
             (retry && push_copy(&t->on[NOTIFY_ON_RETRY], &n) < 0);
    else if (args == NULL || json_array_size(to) > 0)
        rc = 1;
    if (rc)
        dagfile_error(x->c, v, "out of memory");
    free(n.args_json);
    json_decref(args);
    return rc ? -1 : 0;
}

int
dagfile_task_notifiers(struct loadctx *c, const struct chain *ch, struct dag_task *t,
                       const char *sid, const char *params)
{
    size_t before = c->bag->n_diags;
    char who[300];
    int bad = 0;

    for (size_t ev = 0; ev < NOTIFY_EVENTS; ev++) {
        const struct ynode *v = dagfile_cget(ch, notify_event_key((enum notify_event)ev));
        struct nctx x = {c, notify_event_key((enum notify_event)ev),
                         who_text(ch, v, sid, who, sizeof(who)), params};
        bad |= read_callbacks(&x, v, &t->on[ev]);
    }
    struct nctx x = {c, "email", "", params};
    bad |= read_email(&x, ch, t, sid);
    dedupe_since(c, before);
    return bad ? -1 : 0;
}

int
dagfile_dag_notifiers(struct loadctx *c, const struct ynode *map, struct dag *dag)
{
    static const enum notify_event evs[] = {NOTIFY_ON_SUCCESS, NOTIFY_ON_FAILURE};
    int bad = 0;

    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        struct nctx x = {c, notify_event_key(evs[i]), "", dag->params_json};
        bad |= read_callbacks(&x, ymap_get(map, notify_event_key(evs[i])), &dag->on[evs[i]]);
    }
    return bad ? -1 : 0;
}
