/*
 * support.h - helpers shared by the unit tests that run messages through a
 * cnc_ingest built from inline YAML (single-threaded).
 */
#ifndef CNC_TEST_SUPPORT_H
#define CNC_TEST_SUPPORT_H

#include <stdio.h>
#include <string.h>

#include "ingest.h"

/* Builds an ingest from YAML with the built-in registry (*reg is created when NULL). */
static inline struct cnc_ingest *support_ingest(const char *yaml, struct cnc_registry **reg,
                                                char *err, size_t err_len)
{
    if (*reg == NULL) {
        *reg = cnc_registry_create(NULL, 0, err, err_len);
    }
    struct cnc_config *cfg = cnc_config_load_buffer("t.yaml", yaml, strlen(yaml), err, err_len);
    return cfg != NULL ? cnc_ingest_create(cfg, *reg, NULL, err, err_len) : NULL;
}

/* Runs one message (no topic check); the caller releases res. */
static inline int support_run(struct cnc_ingest *ing, const char *json,
                              struct cnc_ingest_result *res)
{
    return cnc_ingest_process(ing, NULL, json, strlen(json), INT64_C(1747400000000), NULL, res);
}

/* A message for cnc_id with the given payload text. */
static inline const char *support_msg(char *buf, size_t len, const char *cnc_id,
                                      const char *payload)
{
    snprintf(buf, len,
             "{\"cnc_id\":\"%s\",\"part_program\":\"p\",\"timestamp\":1747379028,"
             "\"payload\":%s}",
             cnc_id, payload);
    return buf;
}

/* The anomaly raised by rule, or NULL. */
static inline const struct cnc_anomaly *support_anomaly(const struct cnc_record *rec,
                                                        const char *rule)
{
    for (size_t i = 0; i < rec->n_anomalies; i++) {
        if (strcmp(rec->anomalies[i].rule, rule) == 0) {
            return &rec->anomalies[i];
        }
    }
    return NULL;
}

/*
 * Fails the test unless building an ingest from yaml fails with an error
 * containing expected (cmocka must be included before this header).
 */
#define support_expect_error(reg, yaml, expected)                                                  \
    do {                                                                                           \
        char err_[512] = "";                                                                       \
        struct cnc_ingest *ing_ = support_ingest((yaml), (reg), err_, sizeof err_);                \
        if (ing_ != NULL) {                                                                        \
            cnc_ingest_destroy(ing_);                                                              \
            fail_msg("accepted, expected \"%s\"", (expected));                                     \
        }                                                                                          \
        if (strstr(err_, (expected)) == NULL) {                                                    \
            fail_msg("error \"%s\" does not contain \"%s\"", err_, (expected));                    \
        }                                                                                          \
    } while (0)

#endif
