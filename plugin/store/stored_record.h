/*
 * stored_record.h - an accepted message as it travels through the spool:
 * encoded on the broker thread from the ingest result, decoded on the writer
 * thread into a view for the database.
 *
 * Encoding (native byte order; the spool never leaves the machine):
 *   u8 version | u8 has_efficiency | u16 n_readings | u16 n_anomalies | u16 0
 *   i64 ts_ms | i64 received_ms
 *   str cnc_id | str part_program | str handler | u32 + bytes: the message
 *   per reading: str name | u8 kind (| 0x80: computed) | f64 num | str text
 *   efficiency:  str mode | f64 temperature, vibration, score | str level | u8 is_anomaly
 *   per anomaly: str rule | str variable | f64 value | f64 threshold | u8 severity
 *   with head[6] & HAS_STATE (issue #17): u8 flags | u8 category | i64 started_ms |
 *     i64 offline_from_ms | u32 parts, good, rejects | f64 ideal_cycle_s | str state |
 *     str reason (length 0: none) | str gap_program; see machine_states.h
 * where str is u16 length + bytes. The message bytes are kept whole: the
 * writer takes the payload JSON out of them, off the broker thread.
 *
 * A computed reading is one the payload does not hold as it stands (a name it
 * lacks, or another value under its name: a handler script's cycle_time_s):
 * mysql.readings: json stores the payload and these alone as rows. A record
 * written before the flag existed has none, as its handler computed none.
 */
#ifndef CNC_STORED_RECORD_H
#define CNC_STORED_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "cnc_record.h"
#include "machine_states.h"

#define CNC_STORED_VERSION 1

struct cnc_str {
    const char *p; /* not NUL-terminated */
    uint16_t len;
};

#define CNC_STORED_COMPUTED 0x80
#define CNC_STORED_HAS_STATE 0x01 /* head[6]: a state block follows the anomalies */

struct cnc_stored_reading {
    struct cnc_str name;
    uint8_t kind;     /* enum cnc_value_kind */
    uint8_t computed; /* not the payload's own member as it stands */
    double num;
    struct cnc_str text;
};

struct cnc_stored_anomaly {
    struct cnc_str rule, variable;
    double value, threshold;
    uint8_t severity;
};

/* A decoded record; every pointer points into the encoded bytes. */
struct cnc_stored {
    int64_t ts_ms, received_ms;
    struct cnc_str cnc_id, part_program, handler;
    const char *message;
    uint32_t message_len;
    uint16_t n_readings, n_anomalies;
    int has_efficiency;
    struct cnc_str mode, level;
    double temperature, vibration, score;
    uint8_t is_anomaly;
    const uint8_t *readings;  /* walk with cnc_stored_next_reading */
    const uint8_t *anomalies; /* walk with cnc_stored_next_anomaly */
    /* The machine's state (state_flags 0: the record changes no interval). With
       CNC_STATE_EVENT_ONLY the record holds no message: ts_ms is the offline interval's start. */
    uint8_t state_flags, state_category;
    int64_t state_started_ms, offline_from_ms;
    uint32_t parts, good, rejects; /* with CNC_STATE_COUNTS */
    double ideal_cycle_s;          /* NaN: none */
    struct cnc_str state, reason, gap_program;
    const uint8_t *end;
};

/* A growable buffer owned by the encoder's caller (broker thread). */
struct cnc_buf {
    uint8_t *p;
    size_t len, cap;
};

/* Encodes into buf (replacing its content). 0 or CNC_ENOMEM. */
int cnc_stored_encode(struct cnc_buf *buf, const struct cnc_message *msg,
                      const struct cnc_record *rec, const void *message, size_t message_len,
                      int64_t received_ms);

/*
 * The same with the machine's state (st NULL or st->flags 0: none), and a record for the
 * offline interval TICK found (no message). 0 or CNC_ENOMEM.
 */
int cnc_stored_encode_state(struct cnc_buf *buf, const struct cnc_message *msg,
                            const struct cnc_record *rec, const void *message, size_t message_len,
                            int64_t received_ms, const struct cnc_state_event *st);
int cnc_stored_encode_offline(struct cnc_buf *buf, const struct cnc_offline_machine *m,
                              int64_t received_ms);
/* Decodes; 0, or CNC_EINVAL for bytes that are not a record of this version. */
int cnc_stored_decode(const void *data, size_t len, struct cnc_stored *out);

/* Iterators: *cursor starts at out->readings / out->anomalies. 0, or CNC_EINVAL past the end. */
int cnc_stored_next_reading(const struct cnc_stored *s, const uint8_t **cursor,
                            struct cnc_stored_reading *r);
int cnc_stored_next_anomaly(const struct cnc_stored *s, const uint8_t **cursor,
                            struct cnc_stored_anomaly *a);

void cnc_buf_free(struct cnc_buf *buf);

#endif
