/*
 * machine_table.h - per-cnc_id rows of state, bounded: which row holds which
 * machine's state, for the rules' baselines and the Lua handlers' state tables.
 *
 * Broker thread (one table per rule set or script handler instance). An
 * open-addressing table (cnc_id -> row, XXH3, load factor <= 0.5) grown by
 * doubling up to max rows; rows are kept in order of last use (a doubly
 * linked list through their metadata). Once max machines are tracked, a
 * machine seen for the first time takes the row of the machine seen least
 * recently, so a machine that stopped reporting (or a flood of forged ids
 * that passed) does not hold a row for good. The caller keeps the state
 * itself in an array indexed by row and resets a row the table hands out
 * fresh.
 */
#ifndef CNC_MACHINE_TABLE_H
#define CNC_MACHINE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cnc_machine_meta;
struct cnc_machine_slot;

struct cnc_machine_table {
    struct cnc_machine_slot *slots;
    size_t mask;
    size_t n_rows; /* rows handed out so far, at most max_rows */
    size_t max_rows;
    struct cnc_machine_meta *meta;
    size_t meta_cap;
    uint32_t newest, oldest; /* ends of the last-use list */
    uint64_t evicted;        /* machines whose row made room for another */
};

void cnc_machine_table_init(struct cnc_machine_table *t, size_t max_rows);

/*
 * The row of cnc_id, made the most recently used. *fresh is true when the row
 * was just given to this machine (new, or taken from the least recently seen
 * one): the caller resets its state. -1 only when out of memory.
 */
long cnc_machine_table_row(struct cnc_machine_table *t, const char *cnc_id, bool *fresh);

void cnc_machine_table_free(struct cnc_machine_table *t);

#endif
