/* jitter: Airflow's sha1 jitter (see jitter.h). */
#include "jitter.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/sha.h>

uint64_t
jitter_sha1_mod(const char *dag_id, const char *task_id, const char *when, int n, uint64_t m)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char small[512], *text = small;
    uint64_t r = 0;
    int len;

    dag_id = dag_id ? dag_id : "None";
    task_id = task_id ? task_id : "None";
    when = when ? when : "None";
    if (m == 0 ||
        (len = snprintf(small, sizeof(small), "%s#%s#%s#%d", dag_id, task_id, when, n)) < 0)
        return 0;
    if ((size_t)len >= sizeof(small)) {
        if ((text = malloc((size_t)len + 1)) == NULL)
            return 0;
        snprintf(text, (size_t)len + 1, "%s#%s#%s#%d", dag_id, task_id, when, n);
    }
    SHA1((const unsigned char *)text, (size_t)len, md);
    if (text != small)
        free(text);
    for (size_t i = 0; i < sizeof(md); i++)
        r = (r * 256 + md[i]) % m;
    return r;
}
