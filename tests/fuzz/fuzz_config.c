/*
 * fuzz_config.c - libFuzzer harness for the YAML config loader and the
 * routing table built from it (handler params included).
 *
 * Replay in CI: fuzz_config tests/fuzz/corpus/config -runs=0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest.h"

static struct cnc_registry *reg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (reg == NULL) {
        reg = cnc_registry_create(NULL, 0, err, sizeof err);
    }
    struct cnc_config *cfg =
        cnc_config_load_buffer("fuzz.yaml", (const char *)data, size, err, sizeof err);
    if (cfg == NULL) {
        if (err[0] == '\0') {
            abort(); /* every refusal must say why */
        }
        return 0;
    }
    /* Modules would dlopen arbitrary paths: not for a fuzzer. */
    if (cfg->n_handler_modules > 0) {
        cnc_config_destroy(cfg);
        return 0;
    }
    struct cnc_ingest *ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    cnc_ingest_destroy(ing);
    return 0;
}
