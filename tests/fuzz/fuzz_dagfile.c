/* fuzz_dagfile: libFuzzer target for the DAG loader. Any bytes must end in a bag (possibly
 * with diagnostics) and a clean free: no crash, no leak, no undefined behaviour. */
#include <stddef.h>
#include <stdint.h>

#include "dagfile/dagfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dagbag *bag = dagbag_new();

    if (bag == NULL)
        return 0;
    dagbag_load_string(bag, "fuzz.yaml", (const char *)data, size);
    dagbag_free(bag);
    return 0;
}
