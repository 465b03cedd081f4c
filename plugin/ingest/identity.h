/*
 * identity.h - the identity table: which publisher may speak for which cnc_id
 * (the `identity:` section, README "Who may publish what").
 *
 * Built on the broker thread from a config (at init, on reload, in the
 * checker), looked up on the broker thread for every message on an ingest
 * topic. A publisher is named by its authenticated user name (with
 * mosquitto's use_identity_as_username, a TLS certificate's CN) or its client
 * id (identity.by); exact names are found by hash whatever their number,
 * then globs are tried in file order (for names of at most 256 bytes), and
 * the first entry that matches decides. Its cnc_id patterns are globs (fnmatch) in which %u stands
 * for the user name and %c for the client id, taken literally. Immutable once built.
 */
#ifndef CNC_IDENTITY_H
#define CNC_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Who published a message, as the broker authenticated it. username is NULL for anonymous. */
struct cnc_publisher {
    const char *client_id;
    const char *username;
};

struct cnc_identity_table;
struct cnc_identity_entry;

/*
 * The table of cfg->identity (which must be on: by != CNC_IDENTITY_OFF and
 * outlive the table). A cnc_id pattern that can never match a valid cnc_id
 * (a character a cnc_id cannot hold, a bracket that admits none, longer than
 * 64 characters at least, a % other than %u and %c), a publisher listed twice
 * or more than 256 globs fail with "FILE:LINE: KEY: reason" in err.
 */
struct cnc_identity_table *cnc_identity_table_build(const struct cnc_config *cfg, char *err,
                                                    size_t err_len);
void cnc_identity_table_destroy(struct cnc_identity_table *t);

/* The name the table knows who by (user name or client id); NULL for an anonymous client. */
const char *cnc_identity_name(const struct cnc_identity_table *t, const struct cnc_publisher *who);

/* "username" or "client_id": what cnc_identity_name gives. */
const char *cnc_identity_kind(const struct cnc_identity_table *t);

/* The entry deciding for who, or NULL when there is none (or who is anonymous). */
const struct cnc_identity_entry *cnc_identity_find(const struct cnc_identity_table *t,
                                                   const struct cnc_publisher *who);

/* Whether entry e lets who publish cnc_id[0..len). */
bool cnc_identity_permits(const struct cnc_identity_entry *e, const struct cnc_publisher *who,
                          const char *cnc_id, size_t len);

size_t cnc_identity_exact_count(const struct cnc_identity_table *t);
size_t cnc_identity_glob_count(const struct cnc_identity_table *t);

#endif
