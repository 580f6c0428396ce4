/* The "machine:" line every benchmark prints first, so that its figures
 * can be read against the hardware they were measured on. */
#ifndef VST_BENCH_MACHINE_H
#define VST_BENCH_MACHINE_H

void bench_print_machine(void);

#endif
