/*
 * cnc_error.h - error codes and the stable reject reasons of cnc-ingest.
 *
 * Any thread. Functions in this project return 0 or a negative CNC_E* code;
 * only plugin/ converts them to MOSQ_ERR_* at the broker boundary.
 *
 * The reject reasons are a public contract (DESIGN.md "Reject reasons"): their
 * names appear on the rejected topic, in counters and in the database. Append
 * new ones at the end; never renumber or rename.
 */
#ifndef CNC_ERROR_H
#define CNC_ERROR_H

enum cnc_error {
    CNC_OK = 0,
    CNC_ENOMEM = -1,
    CNC_EINVAL = -2,  /* bad argument or bad input */
    CNC_ECONFIG = -3, /* configuration error, message written to the caller's buffer */
    CNC_EIO = -4,
    CNC_EREJECT = -5,  /* a message was refused; details in struct cnc_reject */
    CNC_EFULL = -6,    /* the spool holds max_bytes not yet stored */
    CNC_ENOSPACE = -7, /* the spool's disk has no room for a new segment */
};

enum cnc_reject_code {
    CNC_REJECT_NONE = 0,
    CNC_REJECT_NOT_JSON,
    CNC_REJECT_NOT_OBJECT,
    CNC_REJECT_TOO_LARGE,
    CNC_REJECT_MISSING_FIELD,
    CNC_REJECT_WRONG_TYPE,
    CNC_REJECT_UNKNOWN_FIELD,
    CNC_REJECT_DUPLICATE_KEY,
    CNC_REJECT_BAD_CNC_ID,
    CNC_REJECT_TOPIC_MISMATCH,
    CNC_REJECT_BAD_PART_PROGRAM,
    CNC_REJECT_BAD_TIMESTAMP,
    CNC_REJECT_TIMESTAMP_OUT_OF_RANGE,
    CNC_REJECT_BAD_PAYLOAD_VALUE,
    CNC_REJECT_TOO_MANY_FIELDS,
    CNC_REJECT_NO_ROUTE,
    CNC_REJECT_HANDLER_REJECTED,
    CNC_REJECT_UNAUTHORIZED_CNC_ID,
    CNC_REJECT_SPOOL_FULL,
    CNC_REJECT__COUNT
};

#endif
