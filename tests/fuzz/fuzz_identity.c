/*
 * fuzz_identity.c - libFuzzer harness for the identity table: the input is an
 * `identity:` section (with fixed handlers and routes around it), loaded, built
 * into a table, and then asked about publishers and cnc_ids made from its own
 * names and patterns (the substitutions, globs and brackets of hostile text).
 *
 * Single-threaded. Replay in CI: fuzz_identity tests/fuzz/corpus/identity -runs=0
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

static struct cnc_registry *reg;

static const char tail[] = "\nhandlers: {any: {type: generic}}\nroutes: [{match: \"*\", handler: "
                           "any}]\n";

/* A message for cnc_id (when it is one), from publisher who, through the whole pipeline. */
static void probe(struct cnc_ingest *ing, const struct cnc_publisher *who, const char *cnc_id)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "{\"cnc_id\":\"%.80s\",\"part_program\":\"p\",\"timestamp\":1747379028,"
                     "\"payload\":{\"a\":1}}",
                     cnc_id);
    struct cnc_ingest_result res;
    int rc = cnc_ingest_process(ing, NULL, msg, (size_t)n, INT64_C(1747400000000), who, &res);
    if (rc != 0 && res.rej.code == CNC_REJECT_UNAUTHORIZED_CNC_ID &&
        strcmp(res.rej.field, "cnc_id") != 0) {
        abort(); /* the refusal names its field */
    }
    /* An anonymous client never gets through. */
    if (who->username == NULL && rc == 0) {
        abort();
    }
    cnc_ingest_result_release(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (reg == NULL) {
        reg = cnc_registry_create(NULL, 0, err, sizeof err);
    }
    char *yaml = malloc(size + sizeof tail);
    if (yaml == NULL) {
        return 0;
    }
    memcpy(yaml, data, size);
    memcpy(yaml + size, tail, sizeof tail);
    err[0] = '\0';
    struct cnc_config *cfg =
        cnc_config_load_buffer("fuzz.yaml", yaml, size + sizeof tail - 1, err, sizeof err);
    free(yaml);
    if (cfg == NULL || cfg->identity.by == CNC_IDENTITY_OFF || cfg->n_handler_modules > 0) {
        if (cfg == NULL && err[0] == '\0') {
            abort(); /* every refusal must say why */
        }
        cnc_config_destroy(cfg);
        return 0;
    }
    struct cnc_ingest *ing = cnc_ingest_create(cfg, reg, NULL, err, sizeof err);
    if (ing == NULL) {
        if (err[0] == '\0') {
            abort();
        }
        return 0;
    }
    const struct cnc_identity_config *ic = &cnc_ingest_config(ing)->identity;
    for (size_t i = 0; i < ic->n_publishers && i < 16; i++) {
        const struct cnc_publisher_config *pc = &ic->publishers[i];
        const struct cnc_publisher as_named = {pc->match, pc->match};
        const struct cnc_publisher anonymous = {pc->match, NULL};
        probe(ing, &as_named, pc->match);
        probe(ing, &anonymous, pc->match);
        for (size_t k = 0; k < pc->n_cnc_ids && k < 8; k++) {
            probe(ing, &as_named, pc->cnc_ids[k]);
            const struct cnc_publisher as_pattern = {pc->cnc_ids[k], pc->cnc_ids[k]};
            probe(ing, &as_pattern, pc->cnc_ids[k]);
            probe(ing, &as_pattern, pc->match);
        }
    }
    cnc_ingest_destroy(ing);
    return 0;
}
