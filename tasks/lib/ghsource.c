/* ghsource: synthetic GitHub events, deterministic for a seed (see ghsource.h).
 *
 * Each event draws from its own random stream, seeded by mixing (seed, k) with splitmix64, so
 * event k never depends on the events before it. The pools are built once from word lists:
 * repo i is "<owner>/<adjective>-<noun>", actor i "<adjective>-<noun>" (numbered past the
 * word lists' product); both get ids from a fixed linear map, so names and ids are unique.
 * Popularity is skewed by drawing a pool index as n * u^3 (u uniform): the first tenth of a
 * pool makes close to half of the events, as on the real timeline. */
#include "ghsource.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_LEN 64
#define ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *const ghsource_types[] = {
    "PushEvent",   "CreateEvent", "PullRequestEvent", "WatchEvent",   "IssueCommentEvent",
    "IssuesEvent", "DeleteEvent", "ForkEvent",        "ReleaseEvent",
};

/* Per mille of each type above; they add up to 1000. */
static const int type_weight[GHSOURCE_NTYPES] = {500, 110, 100, 80, 70, 50, 40, 35, 15};

static const char *const adjectives[] = {
    "fast",   "tiny",   "blue",   "quiet",  "rusty", "shiny", "lazy",  "brave",
    "clever", "frozen", "golden", "hidden", "lucky", "misty", "noisy", "proud",
    "silent", "sunny",  "wild",   "young",  "happy", "early", "daily", "solid",
};
static const char *const nouns[] = {
    "cache",  "parser", "engine", "widget", "stream", "kernel",  "router", "planner",
    "loader", "bucket", "beacon", "falcon", "harbor", "lantern", "meadow", "otter",
    "pixel",  "rocket", "signal", "tundra", "vortex", "walrus",  "zephyr", "compass",
};
static const char *const owners[] = {
    "acme",   "octo-org",  "datahub", "cloudnine", "openlab",   "rustaceans", "pydata",
    "kubefx", "nodeworks", "gophers", "webcraft",  "mlfoundry", "infra-team", "devtools",
};
static const char *const people[] = {
    "alice", "bruno",  "chen",  "dana",   "emeka", "farah", "goran", "hana",  "ines",  "jonas",
    "kofi",  "lena",   "mateo", "nadia",  "omar",  "priya", "quinn", "rosa",  "sven",  "tariq",
    "uma",   "viktor", "wei",   "ximena", "yusuf", "zoe",   "aiko",  "bjorn", "carla", "diego",
};
static const char *const tails[] = {"", "-dev", "42", "-codes", "x", "-io", "99", "-hub"};
static const char *const bots[] = {"dependabot[bot]", "github-actions[bot]"};
static const char *const messages[] = {
    "Fix typo in README",  "Bump dependencies",      "Add tests for the parser",
    "Refactor the loader", "Update CI workflow",     "Handle empty input",
    "Merge branch 'main'", "Improve error messages", "Initial commit",
    "Release preparation", "Remove dead code",       "Document the options",
};
static const char *const titles[] = {
    "Crash when the config file is empty",
    "Add support for ARM64 builds",
    "Docs: clarify the install steps",
    "Memory leak in the stream reader",
    "Flaky test on CI",
    "Feature request: dark mode",
    "Upgrade to the latest LTS",
    "Wrong timezone in logs",
};

struct name {
    char s[NAME_MAX_LEN];
    long long id;
};

struct ghsource {
    struct ghsource_opts o;
    long long id_base;   /* event ids are id_base + k */
    struct name *repos;  /* "owner/repo" */
    struct name *actors; /* logins */
};

/* ---- random numbers --------------------------------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n). */
static uint64_t
rng_below(struct rng *r, uint64_t n)
{
    return n == 0 ? 0 : rng_next(r) % n;
}

/* A skewed pool index in [0, n): small indexes are drawn most. */
static int
rng_popular(struct rng *r, int n)
{
    double u = rng_unit(r);
    int i = (int)(u * u * u * n);

    return i < n ? i : n - 1;
}

static bool
rng_chance(struct rng *r, int per_mille)
{
    return (int)rng_below(r, 1000) < per_mille;
}

static const char *
rng_pick(struct rng *r, const char *const *v, size_t n)
{
    return v[rng_below(r, n)];
}

/* 40 hex digits (a commit sha) into buf (41 bytes). */
static void
rng_sha(struct rng *r, char *buf)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 40; i += 16) {
        uint64_t x = rng_next(r);
        for (int j = 0; j < 16 && i + j < 40; j++, x >>= 4)
            buf[i + j] = hex[x & 15];
    }
    buf[40] = '\0';
}

/* ---- the pools -------------------------------------------------------------------------- */

/* Name i of the pool made of words a and b (na * nb names a round, numbered after the first
 * round): the pair (i % na, (i / na + i) % nb) differs for every i of a round when na == nb,
 * and mixes the second word faster than i / na alone would. */
static void
word_pair(size_t i, const char *const *a, size_t na, const char *const *b, size_t nb,
          const char *sep, char *buf, size_t size)
{
    size_t round = i / (na * nb), j = i % (na * nb);
    size_t second = na == nb ? (j / na + j) % nb : (j / na) % nb;

    if (round == 0)
        snprintf(buf, size, "%s%s%s", a[j % na], sep, b[second]);
    else
        snprintf(buf, size, "%s%s%s%zu", a[j % na], sep, b[second], round + 1);
}

static void
pools_fill(struct ghsource *g)
{
    char pair[NAME_MAX_LEN - 16];

    for (int i = 0; i < g->o.repos; i++) {
        word_pair((size_t)i, adjectives, ELEMS(adjectives), nouns, ELEMS(nouns), "-", pair,
                  sizeof(pair));
        snprintf(g->repos[i].s, NAME_MAX_LEN, "%s/%s", owners[(size_t)i % ELEMS(owners)], pair);
        g->repos[i].id = 100000000LL + (long long)i * 7919;
    }
    for (int i = 0; i < g->o.actors; i++) {
        if ((size_t)i < ELEMS(bots)) {
            snprintf(g->actors[i].s, NAME_MAX_LEN, "%s", bots[i]);
            g->actors[i].id = 49699333LL + i * 8;
        } else {
            word_pair((size_t)i - ELEMS(bots), people, ELEMS(people), tails, ELEMS(tails), "",
                      g->actors[i].s, NAME_MAX_LEN);
            g->actors[i].id = 1000000LL + (long long)i * 104729;
        }
    }
}

struct ghsource *
ghsource_new(const struct ghsource_opts *o, struct err *e)
{
    struct ghsource *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        err_set(e, ERR_FAIL, "ghsource: out of memory");
        return NULL;
    }
    g->o = o != NULL ? *o : (struct ghsource_opts){0};
    g->o.repos = g->o.repos > 0 ? g->o.repos : 200;
    g->o.actors = g->o.actors > 0 ? g->o.actors : 1000;
    g->o.start = g->o.start > 0 ? g->o.start : 1714564800; /* 2024-05-01T12:00:00Z */
    g->o.per_second = g->o.per_second > 0 ? g->o.per_second : 20;
    if (g->o.repos > 1000000 || g->o.actors > 1000000 || g->o.invalid_every < 0) {
        err_set(e, ERR_USAGE, "ghsource: at most 1000000 repos and actors, invalid_every >= 0");
        ghsource_free(g);
        return NULL;
    }
    g->id_base = 30000000000LL + (long long)(g->o.seed % 100000) * 100000000LL;
    g->repos = calloc((size_t)g->o.repos, sizeof(*g->repos));
    g->actors = calloc((size_t)g->o.actors, sizeof(*g->actors));
    if (g->repos == NULL || g->actors == NULL) {
        err_set(e, ERR_FAIL, "ghsource: out of memory for the pools");
        ghsource_free(g);
        return NULL;
    }
    pools_fill(g);
    return g;
}

void
ghsource_free(struct ghsource *g)
{
    if (g == NULL)
        return;
    free(g->repos);
    free(g->actors);
    free(g);
}

/* ---- the events ------------------------------------------------------------------------- */

/* What the payload builders need to know about the event being made. */
struct ev {
    const struct ghsource *g;
    struct rng r;
    const struct name *actor, *repo;
    char created_at[32];
};

/* A user object as payloads carry it (login, id, url). New reference. */
static json_t *
user_json(const struct name *a)
{
    char url[128];

    snprintf(url, sizeof(url), "https://api.github.com/users/%s", a->s);
    return json_pack("{s:s, s:I, s:s, s:s}", "login", a->s, "id", (json_int_t)a->id, "url", url,
                     "type", strstr(a->s, "[bot]") != NULL ? "Bot" : "User");
}

static json_t *
push_commits(struct ev *v, int size, char *head)
{
    json_t *commits = json_array();
    char sha[41], url[160], email[96];

    snprintf(email, sizeof(email), "%s@users.noreply.github.com", v->actor->s);
    for (int i = 0; commits != NULL && i < size; i++) {
        rng_sha(&v->r, sha);
        const char *msg = rng_pick(&v->r, messages, ELEMS(messages));
        snprintf(url, sizeof(url), "https://api.github.com/repos/%s/commits/%s", v->repo->s, sha);
        json_array_append_new(commits, json_pack("{s:s, s:{s:s, s:s}, s:s, s:b, s:s}", "sha", sha,
                                                 "author", "email", email, "name", v->actor->s,
                                                 "message", msg, "distinct", 1, "url", url));
        memcpy(head, sha, sizeof(sha));
    }
    return commits;
}

static json_t *
payload_push(struct ev *v)
{
    int size = 1 + (int)(rng_unit(&v->r) * rng_unit(&v->r) * 5);
    char head[41], before[41];
    json_t *commits;

    rng_sha(&v->r, before);
    commits = push_commits(v, size, head);
    long long push_id = 17000000000LL + (long long)rng_below(&v->r, 1000000000);
    bool main_branch = rng_chance(&v->r, 800);
    return json_pack("{s:I, s:I, s:i, s:i, s:s, s:s, s:s, s:o*}", "repository_id",
                     (json_int_t)v->repo->id, "push_id", (json_int_t)push_id, "size", size,
                     "distinct_size", size, "ref",
                     main_branch ? "refs/heads/main" : "refs/heads/feature", "head", head, "before",
                     before, "commits", commits);
}

static json_t *
payload_pull_request(struct ev *v)
{
    bool closed = rng_chance(&v->r, 450), merged = closed && rng_chance(&v->r, 700);
    int number = 1 + (int)rng_below(&v->r, 5000);
    long long id = 1800000000LL + (long long)rng_below(&v->r, 100000000);
    const char *title = rng_pick(&v->r, messages, ELEMS(messages));
    char url[160];

    snprintf(url, sizeof(url), "https://github.com/%s/pull/%d", v->repo->s, number);
    return json_pack("{s:s, s:i, s:{s:I, s:i, s:s, s:s, s:s, s:b, s:s?, s:o, s:s}}", "action",
                     closed ? "closed" : "opened", "number", number, "pull_request", "id",
                     (json_int_t)id, "number", number, "state", closed ? "closed" : "open", "title",
                     title, "html_url", url, "merged", merged, "merged_at",
                     merged ? v->created_at : NULL, "user", user_json(v->actor), "created_at",
                     v->created_at);
}

static json_t *
issue_json(struct ev *v, const char *state)
{
    int number = 1 + (int)rng_below(&v->r, 5000);
    long long id = 2200000000LL + (long long)rng_below(&v->r, 100000000);
    const char *title = rng_pick(&v->r, titles, ELEMS(titles));
    int comments = (int)rng_below(&v->r, 30);

    return json_pack("{s:I, s:i, s:s, s:s, s:o, s:i}", "id", (json_int_t)id, "number", number,
                     "title", title, "state", state, "user", user_json(v->actor), "comments",
                     comments);
}

static json_t *
payload_issues(struct ev *v)
{
    int pick = (int)rng_below(&v->r, 10); /* 6 opened, 3 closed, 1 reopened */
    const char *action = pick < 6 ? "opened" : pick < 9 ? "closed" : "reopened";

    return json_pack("{s:s, s:o}", "action", action, "issue",
                     issue_json(v, pick >= 6 && pick < 9 ? "closed" : "open"));
}

static json_t *
payload_issue_comment(struct ev *v)
{
    json_t *issue = issue_json(v, "open");
    long long id = 2000000000LL + (long long)rng_below(&v->r, 100000000);
    const char *body = rng_pick(&v->r, titles, ELEMS(titles));

    return json_pack("{s:s, s:o, s:{s:I, s:s, s:o, s:s}}", "action", "created", "issue", issue,
                     "comment", "id", (json_int_t)id, "body", body, "user", user_json(v->actor),
                     "created_at", v->created_at);
}

/* "vX.Y.Z" followed by suffix into buf. */
static void
version(struct rng *r, const char *suffix, char *buf, size_t size)
{
    int x = (int)rng_below(r, 5);
    int y = (int)rng_below(r, 20);
    int z = (int)rng_below(r, 10);

    snprintf(buf, size, "v%d.%d.%d%s", x, y, z, suffix);
}

static json_t *
payload_create(struct ev *v)
{
    int kind = (int)rng_below(&v->r, 10); /* 6 branch, 2 tag, 2 repository */
    char ref[48];

    if (kind < 6)
        snprintf(ref, sizeof(ref), "feature/%s", rng_pick(&v->r, nouns, ELEMS(nouns)));
    else
        version(&v->r, "", ref, sizeof(ref));
    bool described = rng_chance(&v->r, 500);
    return json_pack("{s:s?, s:s, s:s, s:s?, s:s}", "ref", kind < 8 ? ref : NULL, "ref_type",
                     kind < 6   ? "branch"
                     : kind < 8 ? "tag"
                                : "repository",
                     "master_branch", "main", "description", described ? "A small tool" : NULL,
                     "pusher_type", "user");
}

static json_t *
payload_delete(struct ev *v)
{
    bool tag = rng_chance(&v->r, 200);
    char ref[48];

    if (tag)
        snprintf(ref, sizeof(ref), "v0.%d.0", (int)rng_below(&v->r, 20));
    else
        snprintf(ref, sizeof(ref), "feature/%s", rng_pick(&v->r, nouns, ELEMS(nouns)));
    return json_pack("{s:s, s:s, s:s}", "ref", ref, "ref_type", tag ? "tag" : "branch",
                     "pusher_type", "user");
}

static json_t *
payload_fork(struct ev *v)
{
    const char *slash = strchr(v->repo->s, '/');
    char full[2 * NAME_MAX_LEN], url[2 * NAME_MAX_LEN + 32];
    long long id = 700000000LL + (long long)rng_below(&v->r, 100000000);

    snprintf(full, sizeof(full), "%s/%s", v->actor->s, slash != NULL ? slash + 1 : v->repo->s);
    snprintf(url, sizeof(url), "https://github.com/%s", full);
    return json_pack("{s:{s:I, s:s, s:s, s:o, s:s, s:b, s:b, s:s}}", "forkee", "id", (json_int_t)id,
                     "name", slash != NULL ? slash + 1 : v->repo->s, "full_name", full, "owner",
                     user_json(v->actor), "html_url", url, "fork", 1, "private", 0, "created_at",
                     v->created_at);
}

static json_t *
payload_release(struct ev *v)
{
    char tag[32];
    bool pre = rng_chance(&v->r, 150);

    version(&v->r, pre ? "-rc.1" : "", tag, sizeof(tag));
    long long id = 150000000LL + (long long)rng_below(&v->r, 10000000);
    return json_pack("{s:s, s:{s:I, s:s, s:s, s:b, s:b, s:s, s:o}}", "action", "published",
                     "release", "id", (json_int_t)id, "tag_name", tag, "name", tag, "draft", 0,
                     "prerelease", pre, "published_at", v->created_at, "author",
                     user_json(v->actor));
}

static json_t *
payload_watch(struct ev *v)
{
    (void)v;
    return json_pack("{s:s}", "action", "started");
}

typedef json_t *payload_fn(struct ev *v);

/* Builders in the order of ghsource_types. */
static payload_fn *const payloads[GHSOURCE_NTYPES] = {
    payload_push,   payload_create, payload_pull_request, payload_watch,   payload_issue_comment,
    payload_issues, payload_delete, payload_fork,         payload_release,
};

static int
draw_type(struct rng *r)
{
    int x = (int)rng_below(r, 1000);

    for (int i = 0; i < GHSOURCE_NTYPES; i++) {
        if (x < type_weight[i])
            return i;
        x -= type_weight[i];
    }
    return 0;
}

static json_t *
actor_json(const struct ev *v, bool invalid)
{
    const char *login = v->actor->s, *bot = strstr(login, "[bot]");
    char display[NAME_MAX_LEN], url[128], avatar[128];

    snprintf(display, sizeof(display), "%.*s", bot ? (int)(bot - login) : (int)strlen(login),
             login);
    snprintf(url, sizeof(url), "https://api.github.com/users/%s", login);
    snprintf(avatar, sizeof(avatar), "https://avatars.githubusercontent.com/u/%lld?", v->actor->id);
    json_t *id = invalid ? json_string("not-a-number") : json_integer((json_int_t)v->actor->id);
    return json_pack("{s:o, s:s, s:s, s:s, s:s, s:s}", "id", id, "login", login, "display_login",
                     display, "gravatar_id", "", "url", url, "avatar_url", avatar);
}

json_t *
ghsource_event(const struct ghsource *g, uint64_t k)
{
    struct ev v = {.g = g};
    char id[32], rurl[128];
    time_t t = (time_t)(g->o.start + (long long)(k / (uint64_t)g->o.per_second));
    struct tm tm;
    int type;

    v.r.s = g->o.seed * 0x9e3779b97f4a7c15ULL ^ (k + 1) * 0xd1b54a32d192ed03ULL;
    rng_next(&v.r);
    type = draw_type(&v.r);
    v.actor = &g->actors[rng_popular(&v.r, g->o.actors)];
    v.repo = &g->repos[rng_popular(&v.r, g->o.repos)];
    gmtime_r(&t, &tm);
    strftime(v.created_at, sizeof(v.created_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(id, sizeof(id), "%lld", g->id_base + (long long)(k % 100000000));
    snprintf(rurl, sizeof(rurl), "https://api.github.com/repos/%s", v.repo->s);
    bool invalid = g->o.invalid_every > 0 && (k + 1) % (uint64_t)g->o.invalid_every == 0;
    return json_pack("{s:s, s:s, s:o, s:{s:I, s:s, s:s}, s:o, s:b, s:s}", "id", id, "type",
                     ghsource_types[type], "actor", actor_json(&v, invalid), "repo", "id",
                     (json_int_t)v.repo->id, "name", v.repo->s, "url", rurl, "payload",
                     payloads[type](&v), "public", 1, "created_at", v.created_at);
}
