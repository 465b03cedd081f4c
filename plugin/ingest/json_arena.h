/*
 * json_arena.h - a bump allocator for cJSON's parse of one message.
 *
 * Broker thread (any thread may own an arena; the active arena is
 * thread-local). cJSON allocates every node, key and string separately;
 * with malloc/free that is half the cost of validating a message. While an
 * arena is active on a thread, cJSON's allocations on that thread come from
 * it; frees of arena memory are no-ops, and the arena is reset by the next
 * cnc_json_arena_begin(). Everything else (other threads, other cJSON users
 * in the broker process, an arena that is full) gets plain malloc/free.
 *
 * cJSON's hooks are process-wide: cnc_json_arena_install() sets them for
 * its first user and cnc_json_arena_uninstall() restores cJSON's defaults
 * when the last user is gone (the plugin's cleanup, before mosquitto unloads
 * it). No arena memory can reach another cJSON user: the arena is active only
 * while the plugin's own code parses or prints on that thread, frees of arena
 * memory happen only in the plugin's own cJSON_Delete of its trees, and every
 * such tree is released before the message callback returns. A plugin loaded
 * alongside that sets its own cJSON hooks would replace ours; then parsing
 * simply falls back to malloc (correct, slower).
 */
#ifndef CNC_JSON_ARENA_H
#define CNC_JSON_ARENA_H

#include <stddef.h>

struct cnc_json_arena {
    char *base;
    size_t size;
    size_t used;
};

/* Sets cJSON's hooks to the arena-aware allocator for one more user (the first sets them). */
void cnc_json_arena_install(void);

/* One user fewer; the last restores cJSON's default allocator. */
void cnc_json_arena_uninstall(void);

/* Returns 0 or CNC_ENOMEM. */
int cnc_json_arena_init(struct cnc_json_arena *a, size_t size);
void cnc_json_arena_destroy(struct cnc_json_arena *a);

/*
 * Makes a the calling thread's active arena, emptied. Everything allocated
 * from it before must have been released (cJSON_Delete'd) already.
 */
void cnc_json_arena_begin(struct cnc_json_arena *a);

/* Allocates from a again without emptying it (to build output next to the parsed message). */
void cnc_json_arena_resume(struct cnc_json_arena *a);

/* True when p points into a's memory. */
int cnc_json_arena_owns(const struct cnc_json_arena *a, const void *p);

/* Stops allocating from the arena; its memory stays valid until the next begin. */
void cnc_json_arena_end(void);

#endif
