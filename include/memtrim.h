/*
 * memtrim.h: hand the heap's free pages back to the kernel now and then.
 *
 * glibc gives each thread that allocates its own arena, and returns an
 * arena's memory to the kernel only when the free space sits at the top
 * of it. After bursts of requests the store workers' arenas hold free
 * pages between live blocks, so resident memory climbs round after round
 * although the live heap stays flat (contrib/bench/bench-soak measures
 * both). malloc_trim() releases the free pages inside every arena.
 */
#ifndef CBD_MEMTRIM_H
#define CBD_MEMTRIM_H

struct event_base;
struct memtrim;

/* Trim every interval_sec seconds; NULL (nothing to free) when 0. */
struct memtrim *memtrim_new(struct event_base *base, int interval_sec);
void memtrim_free(struct memtrim *m); /* NULL ok */

#endif
