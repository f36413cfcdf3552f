/* sched.h: slots, capacity and ETA. */
#ifndef CBD_SCHED_H
#define CBD_SCHED_H
#endif
