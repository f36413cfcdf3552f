/*
 * clock.h: the only "now" in the daemon. Normally the system clock; with
 * test_clock enabled, tests and the continuity simulator set and advance it,
 * so a simulated week runs in seconds. Every time-dependent decision,
 * including SQL, uses this value rather than NOW().
 */
#ifndef CBD_CLOCK_H
#define CBD_CLOCK_H

#include <stdint.h>

/* Seconds since the epoch, UTC. Thread-safe. */
int64_t clock_now(void);
/* Milliseconds since the epoch, UTC. Thread-safe. */
int64_t clock_now_ms(void);
/* The system's wall clock in ms, never simulated: for ordering that must
 * agree between instances (the change feed), not for decisions. */
int64_t clock_real_ms(void);
/* Monotonic milliseconds for measuring durations; never simulated. */
int64_t clock_mono_ms(void);
/* Switch to the simulated clock, starting at now_ms. */
void clock_set_ms(int64_t now_ms);
/* Move the simulated clock forward (delta >= 0). No-op when not simulated. */
void clock_advance_ms(int64_t delta_ms);
int clock_is_simulated(void);

#endif
