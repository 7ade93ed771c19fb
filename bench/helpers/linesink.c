/* The reader of the relay scenario: stands for a container engine's log reader on stdin.
 *
 *   linesink RESULT NOTIFY_FD TAG:COUNT:SIZE:TIMED...
 *
 * Reads its stdin (the pipe every runner writes to) until EOF and checks every line written by
 * linewriter, whatever prefix a runner put before it: `@@ TAG SEQ STAMP `, SIZE bytes, newline.
 * - A line whose marker is within its first 256 bytes and whose length from the marker on is
 *   the one linewriter wrote counts for TAG; for a TIMED tag, the time it took (CLOCK_MONOTONIC
 *   after the read that brought the line, less STAMP) is kept.
 * - A line with a marker but the wrong length is "mixed": another program's bytes got inside
 *   it (lines longer than PIPE_BUF written straight to one pipe, or a relay that mixes lines);
 *   every marker in it still counts for its tag.
 * - A line with no marker that ends in padding is the rest of a mixed line: "mixed" too.
 * - Any other line is "other" (a runner's own messages).
 * "lines" counts the programs' lines (all but "other"): each has its one newline, mixed or not.
 * Once every tag with COUNT > 0 has its count (if any has), it writes that moment (8 bytes, ns)
 * to NOTIFY_FD, and reads on until EOF, so no writer ever waits on it.  On SIGUSR1 it writes
 * a snapshot to NOTIFY_FD instead: the programs' lines so far, bytes so far, and the time, 8
 * bytes each (the throughput workloads count over a window).  At EOF it writes RESULT:
 *   done NS / bytes N / lines N / other N / mixed N / count TAG N... / lat TAG NS...
 * In C, so that reading costs the same little for every runner and no interpreter competes
 * with the runner for the CPUs.  LINESINK_DELAY_US=N in the environment makes it a slow
 * reader (a sleep of N us after each read), as some log drivers are.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TAGS 8
#define MARK "@@ "
#define LOOK 256

struct tag {
    char name[64];
    size_t len;
    long want, got;
    size_t size;
    int timed;
    int64_t *lat;
    long nlat, caplat;
};

static struct tag tags[MAX_TAGS];
static int ntags;
static long lines, other, mixed; /* lines: the programs' lines, whole or mixed */
static long long bytes;
static int64_t done_ns = -1;
static volatile sig_atomic_t snapshot_wanted;

static void on_usr1(int signo) {
    (void)signo;
    snapshot_wanted = 1;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct tag *find_tag(const char *name, size_t len) {
    for (int i = 0; i < ntags; i++)
        if (tags[i].len == len && memcmp(tags[i].name, name, len) == 0)
            return &tags[i];
    return NULL;
}

static size_t digits(const char *p, const char *end) {
    size_t n = 0;
    while (p + n < end && p[n] >= '0' && p[n] <= '9')
        n++;
    return n;
}

/* Every marker in [p, end) counts for its tag: the content of a mixed line. */
static void count_all(const char *p, const char *end) {
    while (p < end) {
        const char *m = memmem(p, (size_t)(end - p), MARK, 3);
        if (!m)
            return;
        const char *name = m + 3;
        const char *space = memchr(name, ' ', (size_t)(end - name));
        if (space) {
            struct tag *t = find_tag(name, (size_t)(space - name));
            if (t)
                t->got++;
        }
        p = m + 3;
    }
}

static int ends_with_pad(const char *line, const char *end) {
    if (end - line < 8)
        return 0;
    for (const char *p = end - 8; p < end; p++)
        if (*p != 'x')
            return 0;
    return 1;
}

static void one_line(const char *line, const char *end, int64_t now) {
    /* end points at the newline */
    size_t look = (size_t)(end - line) < LOOK ? (size_t)(end - line) : LOOK;
    const char *m = memmem(line, look, MARK, 3);
    if (!m) {
        if (ends_with_pad(line, end)) {  /* the rest of a line another one got into */
            lines++;
            mixed++;
            count_all(line, end);
        } else {
            other++;
        }
        return;
    }
    lines++;
    const char *name = m + 3;
    const char *space = memchr(name, ' ', (size_t)(end - name));
    struct tag *t = space ? find_tag(name, (size_t)(space - name)) : NULL;
    if (!t) {
        mixed++;
        count_all(m + 3, end);
        return;
    }
    const char *seq = space + 1;
    size_t nseq = digits(seq, end);
    const char *stamp = seq + nseq + 1;
    size_t nstamp = stamp < end ? digits(stamp, end) : 0;
    size_t expected = 3 + t->len + 1 + nseq + 1 + nstamp + 1 + t->size;
    if (!nseq || !nstamp || (size_t)(end - m) != expected) {
        mixed++;
        count_all(m, end);
        return;
    }
    t->got++;
    if (t->timed && done_ns < 0) {
        if (t->nlat == t->caplat) {
            t->caplat = t->caplat ? t->caplat * 2 : 1024;
            t->lat = realloc(t->lat, (size_t)t->caplat * sizeof *t->lat);
            if (!t->lat)
                exit(2);
        }
        t->lat[t->nlat++] = now - strtoll(stamp, NULL, 10);
    }
}

/* Every tag has its lines; or, when no program is endless, as many lines as all of them wrote
 * have come (a marker cut by another program's bytes no longer counts for its tag). */
static int all_done(void) {
    long total = 0;
    int endless = 0, short_of = 0;
    for (int i = 0; i < ntags; i++) {
        total += tags[i].want;
        endless |= tags[i].want == 0;
        short_of |= tags[i].want > 0 && tags[i].got < tags[i].want;
    }
    if (!total)
        return 0;  /* every program endless: counted by snapshots, never done */
    return !short_of || (!endless && lines >= total);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc - 3 > MAX_TAGS) {
        fprintf(stderr, "usage: linesink RESULT NOTIFY_FD TAG:COUNT:SIZE:TIMED...\n");
        return 2;
    }
    int notify = atoi(argv[2]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;  /* no SA_RESTART: read() returns EINTR, the snapshot goes now */
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 3; i < argc; i++) {
        struct tag *t = &tags[ntags++];
        char *colon = strchr(argv[i], ':');
        if (!colon || (size_t)(colon - argv[i]) >= sizeof t->name ||
            sscanf(colon, ":%ld:%zu:%d", &t->want, &t->size, &t->timed) != 3) {
            fprintf(stderr, "linesink: bad tag spec %s\n", argv[i]);
            return 2;
        }
        t->len = (size_t)(colon - argv[i]);
        memcpy(t->name, argv[i], t->len);
    }
    const char *delay_env = getenv("LINESINK_DELAY_US");
    long delay_us = delay_env ? atol(delay_env) : 0;
    struct timespec delay = {delay_us / 1000000, (delay_us % 1000000) * 1000};
    size_t cap = 1 << 20, have = 0;
    char *buf = malloc(cap);
    if (!buf)
        return 2;
    for (;;) {
        if (have == cap) {  /* one line longer than the buffer: grow it */
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                return 2;
        }
        if (snapshot_wanted) {
            snapshot_wanted = 0;
            int64_t snap[3] = {lines, bytes, now_ns()};
            (void)!write(notify, snap, sizeof snap);
        }
        ssize_t got = read(0, buf + have, cap - have);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            perror("linesink: read");
            return 2;
        }
        if (got == 0)
            break;
        int64_t now = now_ns();
        if (delay_us)
            nanosleep(&delay, NULL);
        bytes += got;
        size_t scanned = have;
        have += (size_t)got;
        char *start = buf;
        char *nl;
        while ((nl = memchr(buf + scanned, '\n', have - scanned)) != NULL) {
            one_line(start, nl, now);
            start = nl + 1;
            scanned = (size_t)(start - buf);
        }
        have -= (size_t)(start - buf);
        memmove(buf, start, have);
        if (done_ns < 0 && all_done()) {
            done_ns = now;
            (void)!write(notify, &done_ns, sizeof done_ns);
        }
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror("linesink: result");
        return 2;
    }
    fprintf(out, "done %lld\nbytes %lld\nlines %ld\nother %ld\nmixed %ld\n", (long long)done_ns, bytes,
            lines, other, mixed);
    for (int i = 0; i < ntags; i++)
        fprintf(out, "count %s %ld\n", tags[i].name, tags[i].got);
    for (int i = 0; i < ntags; i++)
        for (long k = 0; k < tags[i].nlat; k++)
            fprintf(out, "lat %s %lld\n", tags[i].name, (long long)tags[i].lat[k]);
    return fclose(out) == 0 ? 0 : 2;
}
