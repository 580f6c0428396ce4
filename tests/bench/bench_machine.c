/* See bench_machine.h. */
#include "bench_machine.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

void bench_print_machine(void)
{
    struct utsname u;
    char model[512] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                snprintf(model, sizeof model, "%.400s", p ? p + 2 : line);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        fclose(f);
    }
    uname(&u);
    printf("machine: %s, %ld cores online, %s %s %s, %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
           u.sysname, u.release, u.machine, OpenSSL_version(OPENSSL_VERSION));
}
