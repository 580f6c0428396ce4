/* What the parts of bench_linkage share (bench_linkage.c). */
#ifndef VST_BENCH_LINKAGE_H
#define VST_BENCH_LINKAGE_H

#include <stddef.h>

double bench_now(void);        /* seconds, monotonic */
long bench_maxrss_kib(void);   /* ru_maxrss of this process */
void *bench_xmalloc(size_t n); /* exits on failure */

/* Part B: bench_linkage --quality ARGS (bench_linkage_quality.c). */
int bench_quality(int argc, char **argv);

#endif
