/* The daemons' pid file (config key pid-file). */
#ifndef VST_PIDFILE_H
#define VST_PIDFILE_H

/* Writes this process's id and a newline to path (created or truncated,
 * close-on-exec while open); "" writes nothing. 0, or -1 with errno set. */
int vst_pidfile_write(const char *path);

#endif
