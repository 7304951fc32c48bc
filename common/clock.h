/* clock: the two clocks of both programs, in seconds with a fraction (see clock.c). */
#ifndef GUST_CLOCK_H
#define GUST_CLOCK_H

/* The monotonic clock: for intervals, timeouts and deadlines (never jumps with the date). */
double clock_mono(void);

/* The wall clock in epoch seconds: for instants stored or shown (task start and end dates). */
double clock_wall(void);

#endif
