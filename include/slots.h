/* slots.h: slots, capacity and ETA. */
#ifndef CBD_SLOTS_H
#define CBD_SLOTS_H
#endif
