/*
 * stats.c - counters, summary line and metrics JSON, see stats.h.
 *
 * Broker thread.
 */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "timestamp.h"
#include "json_number.h"

void cnc_stats_count(struct cnc_stats *s, enum cnc_reject_code code)
{
    s->received++;
    if (code == CNC_REJECT_NONE) {
        s->accepted++;
    } else {
        s->rejected++;
        s->by_reason[code]++;
    }
}

static const char *reject_name(int c)
{
    return cnc_reject_name((enum cnc_reject_code)c);
}

static const char *cause_name(int c)
{
    return cnc_db_cause_name((enum cnc_db_cause)c);
}

/* " (name=N name=N)" for the counts from index 1 on that are not zero; the new length. */
static int append_counts(char *buf, size_t len, int n, const uint64_t *counts, int count,
                         const char *(*name)(int))
{
    int any = 0;
    for (int c = 1; c < count && n > 0 && (size_t)n < len; c++) {
        if (counts[c] != 0) {
            n += snprintf(buf + n, len - (size_t)n, "%s%s=%llu", any ? " " : " (", name(c),
                          (unsigned long long)counts[c]);
            any = 1;
        }
    }
    if (any && n > 0 && (size_t)n < len) {
        n += snprintf(buf + n, len - (size_t)n, ")");
    }
    return n;
}

void cnc_stats_summary(const struct cnc_stats *s, const struct cnc_storage_snapshot *st, char *buf,
                       size_t len)
{
    int n = snprintf(buf, len, "node=%s received=%llu accepted=%llu rejected=%llu", s->node,
                     (unsigned long long)s->received, (unsigned long long)s->accepted,
                     (unsigned long long)s->rejected);
    n = append_counts(buf, len, n, s->by_reason, CNC_REJECT__COUNT, reject_name);
    if (s->rule_evicted + s->rule_untracked != 0 && n > 0 && (size_t)n < len) {
        n +=
            snprintf(buf + n, len - (size_t)n, " rule_state_evicted=%llu rule_state_untracked=%llu",
                     (unsigned long long)s->rule_evicted, (unsigned long long)s->rule_untracked);
    }
    const struct cnc_script_stats *sc = &s->scripts;
    uint64_t script_refusals =
        sc->over_budget + sc->over_time + sc->over_memory + sc->errors + sc->bad_results;
    if (script_refusals != 0 && n > 0 && (size_t)n < len) {
        n += snprintf(buf + n, len - (size_t)n,
                      " script_over_budget=%llu script_over_time=%llu script_over_memory=%llu "
                      "script_errors=%llu script_bad_results=%llu",
                      (unsigned long long)sc->over_budget, (unsigned long long)sc->over_time,
                      (unsigned long long)sc->over_memory, (unsigned long long)sc->errors,
                      (unsigned long long)sc->bad_results);
    }
    if (s->reports_suppressed != 0 && n > 0 && (size_t)n < len) {
        n += snprintf(buf + n, len - (size_t)n, " reports_suppressed=%llu",
                      (unsigned long long)s->reports_suppressed);
    }
    if (s->forged_output != 0 && n > 0 && (size_t)n < len) {
        n += snprintf(buf + n, len - (size_t)n, " forged_output=%llu",
                      (unsigned long long)s->forged_output);
    }
    if (s->retain_stripped != 0 && n > 0 && (size_t)n < len) {
        n += snprintf(buf + n, len - (size_t)n, " retain_stripped=%llu",
                      (unsigned long long)s->retain_stripped);
    }
    if (st != NULL && st->enabled && n > 0 && (size_t)n < len) {
        n += snprintf(buf + n, len - (size_t)n,
                      " stored=%llu dead_letters=%llu batches=%llu db_errors=%llu",
                      (unsigned long long)st->stored, (unsigned long long)st->dead_letters,
                      (unsigned long long)st->batches, (unsigned long long)st->db_errors);
        n = append_counts(buf, len, n, st->db_errors_by_cause, CNC_DB__COUNT, cause_name);
        if (n > 0 && (size_t)n < len) {
            snprintf(
                buf + n, len - (size_t)n,
                " spooled_bytes=%llu db_connected=%d db_host=%s db_failovers=%llu%s%s%s",
                (unsigned long long)st->spooled_bytes, st->db_connected,
                st->db_host[0] != '\0' ? st->db_host : "-", (unsigned long long)st->db_failovers,
                st->waiting_for != CNC_DB_OK ? " waiting_for=" : "",
                st->waiting_for != CNC_DB_OK ? cnc_db_cause_name((enum cnc_db_cause)st->waiting_for)
                                             : "",
                st->dead_letters_full ? " DEAD_LETTERS_FULL" : "");
        }
    }
}

char *cnc_stats_json(const struct cnc_stats *s, const struct cnc_storage_snapshot *st,
                     int64_t now_ms)
{
    char when[25];
    cnc_timestamp_format(now_ms, when);
    cJSON *o = cJSON_CreateObject();
    cJSON *by = cJSON_CreateObject();
    char *out = NULL;
    if (o == NULL || by == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(by);
        return NULL;
    }
    for (int c = 1; c < CNC_REJECT__COUNT; c++) {
        cnc_json_add_number(by, cnc_reject_name((enum cnc_reject_code)c), (double)s->by_reason[c]);
    }
    cJSON_AddStringToObject(o, "at", when);
    cJSON_AddStringToObject(o, "node", s->node);
    cnc_json_add_number(o, "received", (double)s->received);
    cnc_json_add_number(o, "accepted", (double)s->accepted);
    cnc_json_add_number(o, "rejected", (double)s->rejected);
    cnc_json_add_number(o, "anomalies", (double)s->anomalies);
    cnc_json_add_number(o, "retain_stripped", (double)s->retain_stripped);
    cnc_json_add_number(o, "forged_output", (double)s->forged_output);
    cnc_json_add_number(o, "reports_suppressed", (double)s->reports_suppressed);
    cJSON *rs = cJSON_AddObjectToObject(o, "rule_state");
    if (rs != NULL) {
        cnc_json_add_number(rs, "machines", (double)s->rule_machines);
        cnc_json_add_number(rs, "evicted", (double)s->rule_evicted);
        cnc_json_add_number(rs, "untracked", (double)s->rule_untracked);
    }
    cJSON *ms = cJSON_AddObjectToObject(o, "machine_states");
    if (ms != NULL) {
        cnc_json_add_number(ms, "machines", (double)s->states.tracked);
        cnc_json_add_number(ms, "changes", (double)s->states.changes);
        cnc_json_add_number(ms, "late", (double)s->states.late);
        cnc_json_add_number(ms, "offline", (double)s->states.offline);
        cnc_json_add_number(ms, "evicted", (double)s->states.evicted);
        cnc_json_add_number(ms, "count_jumps", (double)s->states.count_jumps);
        cnc_json_add_number(ms, "untracked", (double)s->states_untracked);
        cnc_json_add_number(ms, "offline_unspooled", (double)s->offline_unspooled);
    }
    if (s->scripts.instances != 0) {
        const struct cnc_script_stats *sc = &s->scripts;
        cJSON *js = cJSON_AddObjectToObject(o, "scripts");
        const struct {
            const char *name;
            uint64_t v;
        } fields[] = {
            {"instances", sc->instances},
            {"machines", sc->machines},
            {"memory_bytes", sc->memory_bytes},
            {"over_budget", sc->over_budget},
            {"over_time", sc->over_time},
            {"over_memory", sc->over_memory},
            {"errors", sc->errors},
            {"refused", sc->refused},
            {"bad_results", sc->bad_results},
            {"state_resets", sc->state_resets},
            {"rests", sc->rests},
            {"evicted", sc->evicted},
            {"untracked", sc->untracked},
        };
        for (size_t i = 0; js != NULL && i < sizeof fields / sizeof fields[0]; i++) {
            cnc_json_add_number(js, fields[i].name, (double)fields[i].v);
        }
    }
    cJSON_AddItemToObject(o, "rejected_by_reason", by);
    if (st != NULL && st->enabled) {
        cnc_json_add_number(o, "stored", (double)st->stored);
        cnc_json_add_number(o, "spooled_bytes", (double)st->spooled_bytes);
        cnc_json_add_number(o, "db_errors", (double)st->db_errors);
        cJSON *causes = cJSON_AddObjectToObject(o, "db_errors_by_cause");
        for (int c = 1; causes != NULL && c < CNC_DB__COUNT; c++) {
            cnc_json_add_number(causes, cnc_db_cause_name((enum cnc_db_cause)c),
                                (double)st->db_errors_by_cause[c]);
        }
        if (st->waiting_for != CNC_DB_OK) {
            cJSON_AddStringToObject(o, "db_waiting_for",
                                    cnc_db_cause_name((enum cnc_db_cause)st->waiting_for));
        } else {
            cJSON_AddNullToObject(o, "db_waiting_for");
        }
        cnc_json_add_number(o, "batches", (double)st->batches);
        cnc_json_add_number(o, "last_batch_ms", (double)st->last_batch_ms);
        cJSON_AddBoolToObject(o, "db_connected", st->db_connected);
        cJSON_AddStringToObject(o, "db_host", st->db_host);
        cnc_json_add_number(o, "db_failovers", (double)st->db_failovers);
        cnc_json_add_number(o, "spool_damaged_records", (double)st->damaged);
        cnc_json_add_number(o, "dead_letters", (double)st->dead_letters);
        cJSON_AddBoolToObject(o, "dead_letters_full", st->dead_letters_full);
        if (st->commit_p50_ms >= 0) {
            cnc_json_add_number(o, "commit_latency_p50_ms", (double)st->commit_p50_ms);
            cnc_json_add_number(o, "commit_latency_p99_ms", (double)st->commit_p99_ms);
        }
        /* The same over the last minute (the two above are since start): its span in seconds,
           the commits in it, and p50/p99 only when there was one. */
        cJSON *recent = cJSON_AddObjectToObject(o, "commit_latency_recent");
        if (recent != NULL) {
            cnc_json_add_number(recent, "s", (double)st->recent.span_s);
            cnc_json_add_number(recent, "commits", (double)st->recent.commits);
            if (st->recent.p50_ms >= 0) {
                cnc_json_add_number(recent, "p50_ms", (double)st->recent.p50_ms);
                cnc_json_add_number(recent, "p99_ms", (double)st->recent.p99_ms);
            }
        }
    }
    out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}
