/* cli_args: the one argument parser of the command line. A verb's row (struct cli_verb)
 * declares its options and positional arguments; from it this file makes the getopt_long
 * spec, the usage lines, --help and the message on a bad argument.
 *
 * Key invariant: usage, --help and usage errors are printed only here, from the row, so they
 * cannot disagree; a verb's handler gets the parsed values and never sees getopt. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "log.h"

#define USAGE_WIDTH 96
#define OPT_HELP 'h'
#define OPT_LONG 256 /* getopt_long's value for the long option i: OPT_LONG + i */

/* One option of a row's opts string. */
struct spec_opt {
    char shortc; /* 0: long only */
    char name[32];
    char meta[32]; /* the argument as usage shows it; "" for a flag */
    bool has_arg, required;
    bool show_short; /* usage shows -X (written "X,long"), else --long */
};

/* Parse the next option of the opts string at *p into o; 0 at the end. */
static int
spec_next(const char **p, struct spec_opt *o)
{
    const char *s = *p + strspn(*p, " ");
    const char *end = s + strcspn(s, " ");
    size_t n;

    if (s == end)
        return 0;
    *p = end;
    memset(o, 0, sizeof(*o));
    if (*s == '!') {
        o->required = true;
        s++;
    }
    if (end - s > 2 && s[1] == ',') {
        o->shortc = s[0];
        o->show_short = true;
        s += 2;
    }
    n = strcspn(s, ",= ");
    snprintf(o->name, sizeof(o->name), "%.*s", (int)n, s);
    s += n;
    if (*s == ',') {
        o->shortc = s[1];
        s += 2;
    }
    if (*s == '=') {
        o->has_arg = true;
        snprintf(o->meta, sizeof(o->meta), "%.*s", (int)(end - s - 1), s + 1);
    }
    return 1;
}

/* All options of a row (at most CLI_MAX_OPTS); returns how many. */
static size_t
spec_parse(const char *spec, struct spec_opt o[CLI_MAX_OPTS])
{
    size_t n = 0;

    while (spec && n < CLI_MAX_OPTS && spec_next(&spec, &o[n]))
        n++;
    return n;
}

/* "dags list" or "scheduler". */
static const char *
verb_name(const struct cli_verb *v, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", v->group ? v->group : "", v->group ? " " : "", v->name);
    return buf;
}

/* "[-o table|json]", "-s START" (required), "[--dry-run]". */
static void
opt_synopsis(const struct spec_opt *o, char *buf, size_t size)
{
    char flag[40];

    if (o->show_short)
        snprintf(flag, sizeof(flag), "-%c", o->shortc);
    else
        snprintf(flag, sizeof(flag), "--%s", o->name);
    snprintf(buf, size, "%s%s%s%s%s", o->required ? "" : "[", flag, o->has_arg ? " " : "", o->meta,
             o->required ? "" : "]");
}

void
cli_print_usage(FILE *out, const struct cli_verb *v)
{
    struct spec_opt o[CLI_MAX_OPTS];
    size_t n = spec_parse(v->opts, o);
    char name[64], item[96];
    int indent, col;

    col = fprintf(out, "usage: gust %s", verb_name(v, name, sizeof(name)));
    indent = col;
    if (v->args)
        col += fprintf(out, " %s", v->args);
    for (size_t i = 0; i < n; i++) {
        opt_synopsis(&o[i], item, sizeof(item));
        if (col + 1 + (int)strlen(item) > USAGE_WIDTH)
            col = fprintf(out, "\n%*s", indent, "") - 1;
        col += fprintf(out, " %s", item);
    }
    fputc('\n', out);
}

/* --help: the usage, what the verb does, then every option with its long name. */
static void
print_help(const struct cli_verb *v)
{
    struct spec_opt o[CLI_MAX_OPTS];
    size_t n = spec_parse(v->opts, o);

    cli_print_usage(stdout, v);
    printf("%s\n", v->help ? v->help : v->summary);
    if (n > 0)
        printf("options:\n");
    for (size_t i = 0; i < n; i++)
        printf("  %c%c%s--%s%s%s\n", o[i].shortc ? '-' : ' ', o[i].shortc ? o[i].shortc : ' ',
               o[i].shortc ? ", " : "  ", o[i].name, o[i].has_arg ? " " : "", o[i].meta);
}

int
cli_usage_error(const struct cli_args *a)
{
    cli_print_usage(stderr, a->verb);
    return EXIT_USAGE;
}

/* The getopt_long tables for a row's options (and -h/--help). */
static void
make_getopt(const struct spec_opt *o, size_t n, struct option *lo, char *shorts)
{
    char *p = shorts;

    if (n == 0)
        *p++ = '+'; /* no options: after the first argument all are arguments ("-5" a value) */
    *p++ = ':';     /* a missing argument returns ':', an unknown option '?' */
    *p++ = OPT_HELP;
    for (size_t i = 0; i < n; i++) {
        lo[i] = (struct option){o[i].name, o[i].has_arg ? required_argument : no_argument, NULL,
                                OPT_LONG + (int)i};
        if (o[i].shortc) {
            *p++ = o[i].shortc;
            if (o[i].has_arg)
                *p++ = ':';
        }
    }
    *p = '\0';
    lo[n] = (struct option){"help", no_argument, NULL, OPT_HELP};
    lo[n + 1] = (struct option){0};
}

/* The index in o of what getopt_long returned; -1 for none. */
static int
slot_of(int c, const struct spec_opt *o, size_t n)
{
    if (c >= OPT_LONG && c < OPT_LONG + (int)n)
        return c - OPT_LONG;
    for (size_t i = 0; i < n; i++)
        if (o[i].shortc && o[i].shortc == c)
            return (int)i;
    return -1;
}

/* A bad option: say which, then the usage. */
static int
bad_option(const struct cli_args *a, int c, const char *arg)
{
    char name[64];

    verb_name(a->verb, name, sizeof(name));
    if (c == ':' && optopt > 0 && optopt < OPT_LONG && optopt != OPT_HELP)
        log_error("%s: option '-%c' requires an argument", name, optopt);
    else if (c == ':')
        log_error("%s: option '%s' requires an argument", name, arg);
    else if (optopt > 0 && optopt < OPT_LONG)
        log_error("%s: unknown option '-%c'", name, optopt);
    else
        log_error("%s: unknown option '%s'", name, arg);
    return cli_usage_error(a);
}

/* Required options given and the number of positional arguments right; else a usage error. */
static int
check_args(const struct cli_args *a, const struct spec_opt *o, size_t n)
{
    char name[64];

    verb_name(a->verb, name, sizeof(name));
    for (size_t i = 0; i < n; i++)
        if (o[i].required && a->val[i] == NULL) {
            log_error("%s: --%s is required", name, o[i].name);
            return cli_usage_error(a);
        }
    if (a->argc < a->verb->min_args) {
        log_error("%s: missing arguments", name);
        return cli_usage_error(a);
    }
    if (a->argc > a->verb->max_args) {
        log_error("%s: unexpected argument '%s'", name, a->argv[a->verb->max_args]);
        return cli_usage_error(a);
    }
    return -1;
}

/* argparse's rule for an argument like "-1" or "-.5" when no option is a digit (none is
 * here): a negative number, so a positional argument (`pools set NAME -1 DESC`). getopt
 * would read it as options, so its '-' is hidden from getopt (hide) and given back after
 * (unhide); getopt moves the pointers, never the strings. */
#define NEG_MARK '\x1f'

static bool
negative_number(const char *s)
{
    size_t digits;

    if (s[0] != '-')
        return false;
    digits = strspn(s + 1, "0123456789");
    if (s[1 + digits] == '.' && s[2 + digits] != '\0')
        return strspn(s + 2 + digits, "0123456789") == strlen(s + 2 + digits);
    return digits > 0 && s[1 + digits] == '\0';
}

static void
hide_negatives(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (negative_number(argv[i]))
            argv[i][0] = NEG_MARK;
}

/* Give the hidden '-' back (an argument that came in as NEG_MARK and digits would become a
 * negative number too: no one types that). */
static void
unhide_negatives(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != NEG_MARK)
            continue;
        argv[i][0] = '-';
        if (!negative_number(argv[i]))
            argv[i][0] = NEG_MARK;
    }
}

int
cli_args_parse(const struct cli_verb *v, int argc, char **argv, struct cli_args *a)
{
    struct spec_opt o[CLI_MAX_OPTS];
    size_t n = spec_parse(v->opts, o);
    struct option lo[CLI_MAX_OPTS + 2];
    char shorts[3 * CLI_MAX_OPTS + 5];
    int c;

    *a = (struct cli_args){.verb = v};
    make_getopt(o, n, lo, shorts);
    optind = 1;
    opterr = 0; /* the messages are ours, naming the verb */
    hide_negatives(argc, argv);
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        int i = slot_of(c, o, n);

        if (c == OPT_HELP || i < 0)
            unhide_negatives(argc, argv);
        if (c == OPT_HELP) {
            print_help(v);
            return EXIT_OK;
        }
        if (i < 0)
            return bad_option(a, c, argv[optind - 1]);
        a->val[i] = optarg ? optarg : "";
    }
    unhide_negatives(argc, argv);
    a->argc = argc - optind;
    a->argv = argv + optind;
    return check_args(a, o, n);
}

const char *
cli_arg(const struct cli_args *a, const char *name, const char *def)
{
    struct spec_opt o;
    const char *p = a->verb->opts;

    for (size_t i = 0; p && i < CLI_MAX_OPTS && spec_next(&p, &o); i++)
        if (strcmp(o.name, name) == 0)
            return a->val[i] ? a->val[i] : def;
    return def;
}

bool
cli_flag(const struct cli_args *a, const char *name)
{
    return cli_arg(a, name, NULL) != NULL;
}

/* --map-index N (Airflow's -m/--map-index): -1 when absent, -2 after a message when it is not
 * a map index (an integer >= -1). */
int
cli_map_index(const struct cli_args *a)
{
    const char *v = cli_arg(a, "map-index", NULL);
    char *end;
    long n;

    if (v == NULL)
        return -1;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < -1 || n > 1000000000) {
        log_error("--map-index: '%s' is not a map index (an integer, -1 for an unmapped task)", v);
        return -2;
    }
    return (int)n;
}
