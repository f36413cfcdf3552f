/*
 * clock.c: real or simulated time. The simulated clock is an offset from the
 * real one that tests set; it keeps running in real time between updates,
 * so timers and leases still behave like a clock and never stall.
 */
#include <stdatomic.h>
#include <time.h>

#include "clock.h"

/* Simulated minus real, in ms; meaningful only while is_simulated is set. */
static _Atomic int64_t clock_offset_ms;
static _Atomic int clock_simulated;

int64_t
clock_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_now_ms(void)
{
	return clock_real_ms() + (atomic_load(&clock_simulated)
					  ? atomic_load(&clock_offset_ms)
					  : 0);
}

int64_t
clock_now(void)
{
	return clock_now_ms() / 1000;
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
clock_set_ms(int64_t now_ms)
{
	atomic_store(&clock_offset_ms, now_ms - clock_real_ms());
	atomic_store(&clock_simulated, 1);
}

void
clock_advance_ms(int64_t delta_ms)
{
	if (atomic_load(&clock_simulated) && delta_ms > 0)
		atomic_fetch_add(&clock_offset_ms, delta_ms);
}

int
clock_is_simulated(void)
{
	return atomic_load(&clock_simulated);
}
