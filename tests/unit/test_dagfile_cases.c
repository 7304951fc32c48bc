/* test_dagfile_cases: the data-driven DAG loader cases (jansson's valid/invalid layout).
 *
 * Each folder under tests/dags/valid/ and tests/dags/invalid/ is one case: its *.yaml files
 * are loaded as a DAG folder (with the case folder as working directory, so the paths in the
 * output are relative and the expected files portable) and the canonical dump must equal
 * expected.txt byte for byte. Valid cases must have no error, invalid ones at least one.
 * GUST_UPDATE_EXPECTED=1 rewrites expected.txt from the actual output (read every change!).
 * The root comes from $GUST_SRC (set by tests/run.sh), else ".". */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dagfile/dagfile.h"

struct dcase {
    char *dir;  /* absolute path of the case folder */
    char *name; /* "valid/xyz" */
    int valid;
};

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem;

    if (f == NULL)
        return NULL;
    mem = open_memstream(&buf, &len);
    for (int ch; mem != NULL && (ch = fgetc(f)) != EOF;)
        fputc(ch, mem);
    if (mem != NULL)
        fclose(mem);
    fclose(f);
    return buf;
}

/* Print the first differing line, then both texts, for a readable failure. */
static void
show_diff(const char *name, const char *want, const char *got)
{
    int line = 1;
    const char *w = want, *g = got;

    while (*w && *w == *g) {
        if (*w == '\n')
            line++;
        w++, g++;
    }
    while (w > want && w[-1] != '\n')
        w--, g--;
    fprintf(stderr, "case %s: output differs from expected.txt at line %d\n", name, line);
    fprintf(stderr, "  expected: %.*s\n", (int)strcspn(w, "\n"), w);
    fprintf(stderr, "  actual:   %.*s\n", (int)strcspn(g, "\n"), g);
    fprintf(stderr, "---- actual output ----\n%s---- end ----\n", got);
}

static void
run_case(void **state)
{
    const struct dcase *c = *state;
    struct dagbag *bag = dagbag_new();
    struct err e = {0};
    char *got = NULL, *want;
    size_t len = 0, errors = 0;
    int home = open(".", O_RDONLY | O_DIRECTORY);
    FILE *mem;

    assert_non_null(bag);
    assert_true(home >= 0);
    assert_int_equal(chdir(c->dir), 0);
    assert_int_equal(dagbag_load_folder(bag, ".", &e), 0);
    mem = open_memstream(&got, &len);
    assert_non_null(mem);
    dagbag_write_canonical(bag, mem);
    fclose(mem);
    if (getenv("GUST_UPDATE_EXPECTED") != NULL) {
        FILE *f = fopen("expected.txt", "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    want = read_all("expected.txt");
    assert_int_equal(fchdir(home), 0);
    close(home);
    for (size_t i = 0; i < bag->n_diags; i++)
        errors += bag->diags[i].level == DIAG_ERROR;
    if (want == NULL)
        fprintf(stderr, "case %s: no expected.txt\n", c->name);
    else if (strcmp(want, got) != 0)
        show_diff(c->name, want, got);
    if (c->valid && errors > 0)
        fprintf(stderr, "case %s: a valid case has %zu error(s)\n", c->name, errors);
    if (!c->valid && errors == 0)
        fprintf(stderr, "case %s: an invalid case has no error\n", c->name);
    int ok = want != NULL && strcmp(want, got) == 0 && (c->valid ? errors == 0 : errors > 0);
    free(want);
    free(got);
    dagbag_free(bag);
    assert_true(ok);
}

static int
cmp_case(const void *a, const void *b)
{
    return strcmp(((const struct dcase *)a)->name, ((const struct dcase *)b)->name);
}

static size_t
find_cases(const char *root, const char *kind, struct dcase **cases, size_t n)
{
    char dir[4096];
    DIR *d;
    struct dirent *ent;

    snprintf(dir, sizeof(dir), "%s/tests/dags/%s", root, kind);
    if ((d = opendir(dir)) == NULL)
        return n;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        *cases = realloc(*cases, (n + 1) * sizeof(**cases));
        assert_non_null(*cases);
        if (asprintf(&(*cases)[n].dir, "%s/%s", dir, ent->d_name) < 0 ||
            asprintf(&(*cases)[n].name, "%s/%s", kind, ent->d_name) < 0)
            abort();
        (*cases)[n].valid = strcmp(kind, "valid") == 0;
        n++;
    }
    closedir(d);
    return n;
}

int
main(void)
{
    const char *src = getenv("GUST_SRC");
    char root[4096];
    struct dcase *cases = NULL;
    struct CMUnitTest *tests;
    size_t n = 0;
    int rc;

    if (realpath(src && *src ? src : ".", root) == NULL)
        return 1;
    /* Variables the $VAR expansion cases use; GUST_TEST_UNSET_VAR must stay unset. */
    setenv("GUST_TEST_VAR", "from-env", 1);
    setenv("GUST_TEST_NOW", "1710055805", 1); /* relative start_date: 2024-03-10T07:30:05Z */
    setenv("GUST_TEST_RETRIES", "4", 1);
    unsetenv("GUST_TEST_UNSET_VAR");
    n = find_cases(root, "valid", &cases, n);
    n = find_cases(root, "invalid", &cases, n);
    if (n == 0) {
        fprintf(stderr, "no cases under %s/tests/dags\n", root);
        return 1;
    }
    qsort(cases, n, sizeof(*cases), cmp_case);
    tests = calloc(n, sizeof(*tests));
    for (size_t i = 0; i < n; i++)
        tests[i] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, &cases[i]};
    rc = _cmocka_run_group_tests("dagfile_cases", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        free(cases[i].dir), free(cases[i].name);
    free(cases);
    free(tests);
    return rc;
}
