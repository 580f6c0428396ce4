/* The pid file; see pidfile.h. */
#include "core/pidfile.h"

#include <stdio.h>
#include <unistd.h>

int vst_pidfile_write(const char *path)
{
    if (path[0] == '\0')
        return 0;
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    int bad = fprintf(f, "%ld\n", (long)getpid()) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}
