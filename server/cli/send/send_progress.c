/* Upload progress, see send_progress.h. */
#include "cli/send/send_progress.h"

#include <string.h>
#include <time.h>

#define BAR_WIDTH 24

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vst_progress_format(char *buf, size_t len, uint64_t sent, uint64_t total, uint64_t records,
                         double seconds)
{
    double pct = total ? 100.0 * (double)sent / (double)total : 100.0;
    double mb = (double)sent / 1e6, tmb = (double)total / 1e6;
    double rate = seconds > 0 ? mb / seconds : 0, rps = seconds > 0 ? (double)records / seconds : 0;
    snprintf(buf, len, "%3.0f%%  %.1f of %.1f MB  %.1f MB/s  %llu records  %.0f records/s", pct, mb,
             tmb, rate, (unsigned long long)records, rps);
}

void vst_progress_init(vst_progress *p, FILE *out, int enabled, int tty)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->enabled = enabled;
    p->tty = tty;
}

void vst_progress_start(vst_progress *p, uint64_t total)
{
    p->total = total;
    p->sent = 0;
    p->records = 0;
    p->last_decile = 0;
    p->last_draw = 0;
    p->t0 = now_s();
}

static void draw(vst_progress *p, double t)
{
    char figures[160], bar[BAR_WIDTH + 1];
    vst_progress_format(figures, sizeof figures, p->sent, p->total, p->records, t - p->t0);
    if (p->tty) {
        int fill =
            p->total ? (int)((double)BAR_WIDTH * (double)p->sent / (double)p->total) : BAR_WIDTH;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        /* \r and trailing blanks overwrite the previous, possibly longer line. */
        fprintf(p->out, "\r[%s] %s   ", bar, figures);
        p->drawn = 1;
    } else {
        fprintf(p->out, "vst-send: sent %s\n", figures);
    }
    fflush(p->out);
    p->last_draw = t;
}

void vst_progress_update(vst_progress *p, uint64_t sent, uint64_t records)
{
    p->sent = sent;
    p->records = records;
    if (!p->enabled)
        return;
    double t = now_s();
    if (p->tty) {
        if (t - p->last_draw >= 0.2)
            draw(p, t);
        return;
    }
    int decile = p->total ? (int)(10 * sent / p->total) : 10;
    if (decile > p->last_decile && decile < 10) {
        p->last_decile = decile;
        draw(p, t);
    }
}

void vst_progress_break(vst_progress *p)
{
    if (p->enabled && p->tty && p->drawn) {
        fputc('\n', p->out);
        fflush(p->out);
        p->drawn = 0;
    }
}

void vst_progress_finish(vst_progress *p)
{
    if (!p->enabled)
        return;
    draw(p, now_s());
    vst_progress_break(p);
}
