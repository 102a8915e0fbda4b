/* drctl's one-line progress display (progress.h). */
#include "progress.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

static struct
{
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool running, stop;
    long interval_ns;
    char what[128];
    uint64_t total, bytes0, objects0;
    struct timespec t0;
} p = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void draw(void)
{
    double s = since(&p.t0);
    char note[160];

    store_progress_note(note, sizeof(note));
    if (note[0] != '\0') {
        fprintf(stderr, "\r\033[K%s: %s, %.0f s", p.what, note, s);
        fflush(stderr);
        return;
    }
    double mib = (double)(store_progress_bytes() - p.bytes0) / 1048576.0;
    double rate = s > 0 ? mib / s : 0;
    char eta[48] = "";

    if (p.total > 0 && rate > 0) {
        double total = (double)p.total / 1048576.0;
        double left = total > mib ? (total - mib) / rate : 0;
        snprintf(eta, sizeof(eta), " of %.1f MiB, ETA %.0f s", total, left);
    }
    fprintf(stderr, "\r\033[K%s: %.1f MiB%s, %llu objects, %.1f MiB/s, %.0f s",
            p.what, mib, eta,
            (unsigned long long)(store_progress_objects() - p.objects0), rate,
            s);
    fflush(stderr);
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&p.lock);
    while (!p.stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += p.interval_ns;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p.cond, &p.lock, &until);
        if (!p.stop) {
            draw();
        }
    }
    pthread_mutex_unlock(&p.lock);
    return NULL;
}

void drctl_progress_start(bool show, const char *what, uint64_t total)
{
    if (!show || p.running || !isatty(STDOUT_FILENO) ||
        !isatty(STDERR_FILENO)) {
        return;
    }
    /* DRCTL_PROGRESS_MS: redraw period (tests make it short). */
    p.interval_ns = 500000000L;
    if (getenv("DRCTL_PROGRESS_MS") != NULL) {
        long ms = strtol(getenv("DRCTL_PROGRESS_MS"), NULL, 10);
        if (ms >= 1 && ms <= 10000) {
            p.interval_ns = ms * 1000000L;
        }
    }
    snprintf(p.what, sizeof(p.what), "%s", what);
    p.total = total;
    p.bytes0 = store_progress_bytes();
    p.objects0 = store_progress_objects();
    clock_gettime(CLOCK_MONOTONIC, &p.t0);
    p.stop = false;
    draw(); /* at once: the line says what runs from the start */
    if (pthread_create(&p.thread, NULL, run, NULL) == 0) {
        p.running = true;
    } else {
        fprintf(stderr, "\r\033[K");
    }
}

void drctl_progress_stop(void)
{
    if (!p.running) {
        return;
    }
    pthread_mutex_lock(&p.lock);
    p.stop = true;
    pthread_cond_signal(&p.cond);
    pthread_mutex_unlock(&p.lock);
    pthread_join(p.thread, NULL);
    p.running = false;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}
