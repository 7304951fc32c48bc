/* dagfile_ignore: Airflow's .airflowignore files, applied by the walk of a DAG folder.
 *
 * As Airflow's list_py_file_paths does: each folder's .airflowignore adds its patterns to the
 * ones inherited from the folders above it; everything after '#' on a line is a comment, empty
 * lines are skipped. Two syntaxes, chosen by AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX:
 *  - regexp (the default): a POSIX extended regular expression searched (unanchored) in the
 *    path relative to the DAG folder; any match ignores the path. An invalid one is skipped.
 *  - glob: gitignore patterns. A pattern with a '/' (other than a trailing one) is matched
 *    against the path relative to the folder of its .airflowignore, one without against the
 *    entry's name; a trailing '/' matches folders only, '**' any number of folders, '!'
 *    negates, and the last pattern that matches decides.
 * An ignored folder is not walked at all. Rules live in one array owned by the walk; each
 * folder holds the indices of the rules that apply to it. */
#include "dagfile_int.h"

#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ignore_rule {
    char *base; /* regexp: the DAG folder; glob: the folder of the .airflowignore */
    bool anchored, dir_only, negate, is_re;
    char *pattern; /* glob, without '!', leading and trailing '/' */
    regex_t re;
};

bool
dagfile_ignore_glob_syntax(void)
{
    const char *s = getenv("AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX");

    return s != NULL && strcasecmp(s, "glob") == 0;
}

/* path relative to base (a prefix of it, as the walk builds paths). */
static const char *
rel_to(const char *base, const char *path)
{
    size_t n = strlen(base);

    if (strcmp(base, ".") == 0)
        return path;
    if (strncmp(base, path, n) != 0)
        return path;
    path += n;
    while (*path == '/')
        path++;
    return path;
}

/* Glob segments of pat against the path segments of s: '**' matches any number of them; a
 * match of a leading part of s matches too (a folder's contents). */
static bool
glob_segs(const char *pat, const char *s)
{
    if (*pat == '\0')
        return true; /* pattern done: s is the path or something under it */
    if (*s == '\0')
        return strcmp(pat, "**") == 0;
    size_t pl = strcspn(pat, "/"), sl = strcspn(s, "/");
    const char *pn = pat[pl] ? pat + pl + 1 : pat + pl, *sn = s[sl] ? s + sl + 1 : s + sl;
    if (pl == 2 && strncmp(pat, "**", 2) == 0)
        return glob_segs(pn, s) || glob_segs(pat, sn);
    char p1[1024], s1[1024];
    if (pl >= sizeof(p1) || sl >= sizeof(s1))
        return false;
    memcpy(p1, pat, pl), p1[pl] = '\0';
    memcpy(s1, s, sl), s1[sl] = '\0';
    return fnmatch(p1, s1, 0) == 0 && glob_segs(pn, sn);
}

static bool
rule_matches(const struct ignore_rule *r, const char *root, const char *path, bool is_dir)
{
    const char *name = strrchr(path, '/');

    if (r->is_re)
        return regexec(&r->re, rel_to(root, path), 0, NULL, 0) == 0;
    if (r->dir_only && !is_dir)
        return false;
    if (r->anchored)
        return glob_segs(r->pattern, rel_to(r->base, path));
    return fnmatch(r->pattern, name ? name + 1 : path, 0) == 0;
}

bool
dagfile_ignore_match(const struct dagfile_ignore *ig, const struct dagfile_ignore_list *l,
                     const char *root, const char *path, bool is_dir)
{
    bool ignored = false;

    for (size_t i = 0; i < l->n; i++) {
        const struct ignore_rule *r = &ig->rules[l->idx[i]];
        if (!rule_matches(r, root, path, is_dir))
            continue;
        if (r->is_re)
            return true;
        ignored = !r->negate;
    }
    return ignored;
}

/* One glob line into r (0), or 1 when it is a no-op ("/" alone, "!" alone). */
static int
glob_rule(struct ignore_rule *r, char *line)
{
    size_t n;

    if (line[0] == '!')
        r->negate = true, line++;
    else if (line[0] == '\\' && (line[1] == '!' || line[1] == '#'))
        line++;
    n = strlen(line);
    if (n > 0 && line[n - 1] == '/')
        r->dir_only = true, line[--n] = '\0';
    r->anchored = strchr(line, '/') != NULL;
    while (*line == '/')
        line++;
    if (*line == '\0')
        return 1;
    return (r->pattern = strdup(line)) == NULL ? -1 : 0;
}

static int
add_rule(struct dagfile_ignore *ig, struct dagfile_ignore_list *l, const char *root,
         const char *dir, char *line)
{
    struct ignore_rule r = {.is_re = !dagfile_ignore_glob_syntax()};
    int rc;

    if (r.is_re) {
        if (regcomp(&r.re, line, REG_EXTENDED | REG_NOSUB) != 0)
            return 0; /* Airflow skips an invalid regexp with a warning in its log */
        rc = (r.base = strdup(root)) == NULL ? -1 : 0;
    } else if ((rc = glob_rule(&r, line)) == 0) {
        rc = (r.base = strdup(dir)) == NULL ? -1 : 0;
    }
    if (rc == 1)
        return 0;
    struct ignore_rule *grown = rc == 0 ? realloc(ig->rules, (ig->n + 1) * sizeof(*grown)) : NULL;
    size_t *idx = grown ? realloc(l->idx, (l->n + 1) * sizeof(*idx)) : NULL;
    if (grown)
        ig->rules = grown;
    if (idx)
        l->idx = idx;
    if (idx == NULL) {
        if (r.is_re && rc == 0)
            regfree(&r.re);
        free(r.base), free(r.pattern);
        return -1;
    }
    ig->rules[ig->n] = r;
    l->idx[l->n++] = ig->n++;
    return 0;
}

int
dagfile_ignore_read(struct dagfile_ignore *ig, struct dagfile_ignore_list *l, const char *root,
                    const char *dir)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    ssize_t got;
    FILE *f;
    int rc = 0;

    if (asprintf(&path, "%s/.airflowignore", dir) < 0)
        return -1;
    f = fopen(path, "r");
    free(path);
    if (f == NULL)
        return 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0'; /* Airflow: re.sub(r"\s*#.*", "", line) */
        size_t n = strlen(line);
        while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL)
            line[--n] = '\0';
        if (n > 0)
            rc = add_rule(ig, l, root, dir, line);
    }
    free(line);
    fclose(f);
    return rc;
}

int
dagfile_ignore_list_copy(struct dagfile_ignore_list *to, const struct dagfile_ignore_list *from)
{
    *to = (struct dagfile_ignore_list){0};
    if (from->n == 0)
        return 0;
    if ((to->idx = malloc(from->n * sizeof(*to->idx))) == NULL)
        return -1;
    memcpy(to->idx, from->idx, from->n * sizeof(*to->idx));
    to->n = from->n;
    return 0;
}

void
dagfile_ignore_clear(struct dagfile_ignore *ig)
{
    for (size_t i = 0; i < ig->n; i++) {
        if (ig->rules[i].is_re)
            regfree(&ig->rules[i].re);
        free(ig->rules[i].base);
        free(ig->rules[i].pattern);
    }
    free(ig->rules);
    *ig = (struct dagfile_ignore){0};
}
