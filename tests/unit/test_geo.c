/* Unit tests for tasks/lib/geo: countries of known IPv4 and IPv6 addresses, then 200 random
 * public IPv4 and 40 random IPv6 addresses compared with what Debian's geoiplookup and
 * geoiplookup6 (geoip-bin, an independent reader of the same files) answer; private and
 * unknown addresses (valid, every field ""), texts that are not addresses (false); country
 * names in UTF-8 (Curaçao); region and city from a small GeoIP2-City-shaped database written
 * by tests/tools/make_city_mmdb.pl; missing, corrupt and wrong-edition files are errors naming
 * the file. The oracle programs run by fork and exec, never through a shell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "geo.h"

static struct geo *G; /* the default databases, no city file */

/* Run argv (no shell); its stdout into out (size n, NUL-terminated); its exit status. */
static int
run_capture(char *const argv[], char *out, size_t n)
{
    int fd[2], status = -1;
    size_t len = 0;
    ssize_t got;
    pid_t pid;

    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    while ((got = read(fd[0], out + len, n - 1 - len)) > 0)
        len += (size_t)got;
    close(fd[0]);
    out[len] = '\0';
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Valid UTF-8, asked of iconv (not of geo.c's own check). */
static bool
is_utf8(const char *s)
{
    iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
    char buf[1024], *in = (char *)s, *out = buf;
    size_t inl = strlen(s), outl = sizeof(buf);
    size_t rc = iconv(cd, &in, &inl, &out, &outl);

    iconv_close(cd);
    return rc != (size_t)-1 && inl == 0;
}

/* s with the Latin-1 letters of UTF-8 (U+00C0..U+00FF) folded to ASCII: geoiplookup prints
 * libGeoIP's ISO-8859-1 table, whose names are ASCII ("Curacao"). */
static void
fold(const char *s, char *out, size_t n)
{
    static const char base[] = "AAAAAAACEEEEIIIIDNOOOOOxOUUUUYTsaaaaaaaceeeeiiiidnooooo/ouuuuyty";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < n; p++) {
        if (p[0] == 0xC3 && p[1] >= 0x80 && p[1] <= 0xBF) {
            out[o++] = base[p[1] - 0x80];
            p++;
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

static void
expect_country(const char *ip, const char *code, const char *name)
{
    struct geo_result r;

    assert_true(geo_lookup(G, ip, &r));
    assert_string_equal(r.country_code, code);
    assert_string_equal(r.country_name, name);
    assert_string_equal(r.region_name, "");
    assert_string_equal(r.city_name, "");
}

static void
test_known(void **state)
{
    (void)state;
    expect_country("8.8.8.8", "US", "United States");
    expect_country("81.2.69.160", "GB", "United Kingdom");
    expect_country("41.66.0.1", "CI", "Cote D'Ivoire");
    expect_country("45.42.172.1", "CW",
                   "Cura\xc3\xa7"
                   "ao");
    expect_country("2001:4860:4860::8888", "US", "United States");
    expect_country("::ffff:8.8.8.8", "US", "United States");
    expect_country("2a01:4f8::1", "DE", "Germany");
}

static void
test_unknown_and_invalid(void **state)
{
    static const char *const unknown[] = {"10.0.0.1", "192.168.1.20", "127.0.0.1",
                                          "0.0.0.0",  "::1",          "fe80::1",
                                          "::",       "fc00::7",      "100.64.0.1"};
    static const char *const bad[] = {"not an ip", "",          "1.2.3",        "1.2.3.4.5",
                                      "256.1.1.1", " 8.8.8.8",  "8.8.8.8 ",     "example.com",
                                      "2001:::1",  "1.2.3.4/8", "::ffff:1.2.3", "08.8.8.8x"};
    struct geo_result r;

    (void)state;
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        memset(&r, 'x', sizeof(r));
        assert_true(geo_lookup(G, unknown[i], &r));
        assert_string_equal(r.country_code, "");
        assert_string_equal(r.country_name, "");
        assert_string_equal(r.city_name, "");
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 'x', sizeof(r));
        assert_false(geo_lookup(G, bad[i], &r));
        assert_string_equal(r.country_code, "");
        assert_string_equal(r.country_name, "");
    }
    assert_false(geo_lookup(G, NULL, &r));
}

/* Compare our answer for ip with the oracle's output line "...: CC, Name" or "...: IP
 * Address not found". */
static void
compare_oracle(const char *prog, const char *ip, int *found)
{
    char out[512], folded[128], *colon, *comma;
    char *argv[] = {(char *)prog, (char *)ip, NULL};
    struct geo_result r;

    assert_int_equal(run_capture(argv, out, sizeof(out)), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_true(geo_lookup(G, ip, &r));
    assert_true(is_utf8(r.country_name));
    colon = strstr(out, ": ");
    assert_non_null(colon);
    colon += 2;
    if (strcmp(colon, "IP Address not found") == 0) {
        assert_string_equal(r.country_code, "");
        return;
    }
    comma = strstr(colon, ", ");
    assert_non_null(comma);
    *comma = '\0';
    if (strcmp(colon, r.country_code) != 0 ||
        (fold(r.country_name, folded, sizeof(folded)), strcmp(comma + 2, folded) != 0))
        fail_msg("%s %s: geoiplookup says %s, %s; geo says %s, %s", prog, ip, colon, comma + 2,
                 r.country_code, r.country_name);
    (*found)++;
}

static uint64_t
next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void
test_oracle_v4(void **state)
{
    uint64_t s = 20260601;
    int found = 0, n = 0;
    char ip[32];

    (void)state;
    while (n < 200) {
        uint32_t a = (uint32_t)next(&s);
        unsigned o1 = a >> 24;
        if (o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224)
            continue; /* not public: the address space's reserved blocks */
        snprintf(ip, sizeof(ip), "%u.%u.%u.%u", o1, (a >> 16) & 255, (a >> 8) & 255, a & 255);
        compare_oracle("geoiplookup", ip, &found);
        n++;
    }
    assert_true(found >= 150); /* random public space is mostly allocated */
}

/* Random addresses in allocated /32s of every region's registry, and random ones anywhere. */
static void
test_oracle_v6(void **state)
{
    static const unsigned nets[][2] = {
        {0x2a00, 0x1450}, {0x2a03, 0x2880}, {0x2400, 0xcb00}, {0x2600, 0x1f18}, {0x2804, 0x14c},
        {0x2c0f, 0xfb50}, {0x2a02, 0x2e0},  {0x2001, 0xda8},  {0x2800, 0x3f0},  {0x2403, 0x6200}};
    uint64_t s = 6;
    int found = 0;
    char ip[64];

    (void)state;
    for (int i = 0; i < 40; i++) {
        uint64_t a = next(&s), b = next(&s);
        unsigned hi = nets[i % 10][0], lo = nets[i % 10][1];
        if (i >= 30) /* anywhere in 2000::/3 */
            hi = 0x2000 | ((unsigned)(a >> 48) & 0x1FFF), lo = (unsigned)(a >> 32) & 0xFFFF;
        snprintf(ip, sizeof(ip), "%x:%x:%x:%x::%x", hi, lo, (unsigned)(a >> 16) & 0xFFFF,
                 (unsigned)a & 0xFFFF, (unsigned)b & 0xFFFF);
        compare_oracle("geoiplookup6", ip, &found);
    }
    compare_oracle("geoiplookup6", "2001:4860:4860::8888", &found);
    assert_true(found >= 25);
}

/* A city database in a temp folder, written by the Perl tool with rows (NULL: its table). */
static void
make_city(char *path, size_t n, const char *const *rows)
{
    const char *src = getenv("GUST_SRC");
    char tool[1024], out[256], dir[] = "/tmp/gust-geo.XXXXXX";
    char *argv[16] = {"perl", tool, path};
    int k = 3;

    assert_non_null(mkdtemp(dir));
    snprintf(tool, sizeof(tool), "%s/tests/tools/make_city_mmdb.pl", src ? src : ".");
    snprintf(path, n, "%s/city.mmdb", dir);
    for (; rows != NULL && *rows != NULL && k < 15; rows++)
        argv[k++] = (char *)*rows;
    argv[k] = NULL;
    assert_int_equal(run_capture(argv, out, sizeof(out)), 0);
}

static void
remove_city(const char *path)
{
    char dir[1024];

    unlink(path);
    snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
    rmdir(dir);
}

static void
expect_city(const struct geo *g, const char *ip, const char *region, const char *city)
{
    struct geo_result r;

    assert_true(geo_lookup(g, ip, &r));
    assert_string_equal(r.region_name, region);
    assert_string_equal(r.city_name, city);
}

static void
test_city(void **state)
{
    char path[1100];
    struct err e = {0};
    struct geo *g;
    struct geo_result r;

    (void)state;
    make_city(path, sizeof(path), NULL);
    g = geo_new(NULL, NULL, path, &e);
    assert_non_null(g);
    expect_city(g, "89.160.20.113", "\xc3\x96sterg\xc3\xb6tland County", "Link\xc3\xb6ping");
    expect_city(g, "81.2.69.160", "England", "London");
    expect_city(g, "::ffff:81.2.69.160", "England", "London");
    expect_city(g, "2001:480::77", "California", "San Diego");
    expect_city(g, "14.160.3.4", "H\xc3\xa0 N\xe1\xbb\x99i", "H\xc3\xa0 N\xe1\xbb\x99i");
    expect_city(g, "8.8.8.8", "", ""); /* not in the city file: the country still is */
    assert_true(geo_lookup(g, "8.8.8.8", &r));
    assert_string_equal(r.country_code, "US");
    assert_false(geo_lookup(g, "nope", &r));
    assert_string_equal(r.city_name, "");
    geo_free(g);
    remove_city(path);
}

/* Networks given on the tool's command line. */
static void
test_city_rows(void **state)
{
    static const char *const rows[] = {"203.0.113.0/24=FR|France|\xc3\x8ele-de-France|Paris",
                                       "2001:db8::/32=DE|Germany|Bayern|M\xc3\xbcnchen", NULL};
    char path[1100];
    struct err e = {0};
    struct geo *g;

    (void)state;
    make_city(path, sizeof(path), rows);
    g = geo_new(NULL, NULL, path, &e);
    assert_non_null(g);
    expect_city(g, "203.0.113.9", "\xc3\x8ele-de-France", "Paris");
    expect_city(g, "2001:db8::1", "Bayern", "M\xc3\xbcnchen");
    expect_city(g, "89.160.20.113", "", "");
    geo_free(g);
    remove_city(path);
}

static void
expect_open_error(const char *v4, const char *v6, const char *city, const char *needle)
{
    struct err e = {0};

    assert_null(geo_new(v4, v6, city, &e));
    assert_int_not_equal(e.code, ERR_OK);
    if (strstr(e.msg, needle) == NULL)
        fail_msg("error '%s' does not name %s", e.msg, needle);
}

static void
test_open_errors(void **state)
{
    char bad[] = "/tmp/gust-geo-bad.XXXXXX";
    int fd = mkstemp(bad);

    (void)state;
    assert_true(fd >= 0);
    assert_true(write(fd, "not a database at all\n", 22) == 22);
    close(fd);
    expect_open_error(NULL, NULL, "/nonexistent/city.mmdb", "/nonexistent/city.mmdb");
    expect_open_error(NULL, NULL, bad, bad);
    expect_open_error("/nonexistent/GeoIP.dat", NULL, NULL, "/nonexistent/GeoIP.dat");
    expect_open_error(NULL, "/nonexistent/v6.dat", NULL, "/nonexistent/v6.dat");
    /* the files swapped: the wrong edition */
    expect_open_error(GEO_DEFAULT_V6, NULL, NULL, GEO_DEFAULT_V6);
    expect_open_error(NULL, GEO_DEFAULT_V4, NULL, GEO_DEFAULT_V4);
    unlink(bad);
    geo_free(NULL);
}

static int
setup(void **state)
{
    struct err e = {0};

    (void)state;
    G = geo_new(NULL, NULL, NULL, &e);
    if (G == NULL)
        fprintf(stderr, "geo_new: %s\n", e.msg);
    return G == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    geo_free(G);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known),       cmocka_unit_test(test_unknown_and_invalid),
        cmocka_unit_test(test_oracle_v4),   cmocka_unit_test(test_oracle_v6),
        cmocka_unit_test(test_city),        cmocka_unit_test(test_city_rows),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
