/* fuzz_assetcond: libFuzzer target for dag-factory's asset condition strings
 * (dagfile_cond_parse). Any bytes must parse or fail with an offset inside the text; what
 * parses must print (asset_cond_text) as a condition that parses again to the same text, and
 * evaluate without crashing. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dagfile/dagfile_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
odd_length(const char *uri, void *arg)
{
    (void)arg;
    return strlen(uri) % 2 == 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), msg[512], *t1, *t2;
    struct asset_cond c, again;
    size_t at = 0;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (dagfile_cond_parse(s, NULL, NULL, &c, &at, msg, sizeof(msg)) < 0) {
        if (at > strlen(s))
            abort();
        free(s);
        return 0;
    }
    (void)asset_cond_eval(&c, odd_length, NULL);
    t1 = asset_cond_text(&c);
    if (t1 == NULL || dagfile_cond_parse(t1, NULL, NULL, &again, &at, msg, sizeof(msg)) < 0)
        abort();
    t2 = asset_cond_text(&again);
    if (t2 == NULL || strcmp(t1, t2) != 0)
        abort();
    free(t1);
    free(t2);
    asset_cond_clear(&c);
    asset_cond_clear(&again);
    free(s);
    return 0;
}
