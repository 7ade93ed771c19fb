/* A program of the relay scenario: writes numbered, time-stamped lines to its stdout.
 *
 *   linewriter MODE TAG COUNT SIZE INTERVAL_US READY_DIR
 *
 * Each line is `@@ TAG SEQ STAMP ` then SIZE bytes of 'x' then a newline, in one write(2);
 * STAMP is CLOCK_MONOTONIC in ns just before the write, so the sink can tell how long the line
 * took to reach it.  In C, so that the writers cost little beside the runner being measured.
 *
 * It blocks SIGUSR1, creates READY_DIR/TAG (ready), waits for SIGUSR1 ("go"), then by MODE:
 *   flood   COUNT lines as fast as the pipe takes them;
 *   paced   COUNT lines, INTERVAL_US apart;
 *   endless lines until a SIGUSR1 comes (checked every 100 lines), then exits;
 * and, but for endless, waits for another SIGUSR1 ("quit") before it exits 0: every process
 * is still there to be measured until the harness is done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 96

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *line;  /* HEAD_MAX bytes for the head (right-aligned), then the pad and '\n' */
static size_t size;
static const char *tag;

static void put(long seq) {
    char head[HEAD_MAX];
    int n = snprintf(head, sizeof head, "@@ %s %ld %lld ", tag, seq, (long long)now_ns());
    if (n < 0 || n >= HEAD_MAX) {
        fprintf(stderr, "linewriter: tag too long\n");
        exit(2);
    }
    char *start = line + HEAD_MAX - n;
    memcpy(start, head, (size_t)n);
    size_t left = (size_t)n + size + 1;
    while (left) {
        ssize_t done = write(1, start, left);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            exit(1);  /* the sink is gone */
        }
        start += done;
        left -= (size_t)done;
    }
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: linewriter flood|paced|endless TAG COUNT SIZE INTERVAL_US READY_DIR\n");
        return 2;
    }
    const char *mode = argv[1];
    tag = argv[2];
    long count = atol(argv[3]);
    size = (size_t)atol(argv[4]);
    long interval_us = atol(argv[5]);
    line = malloc(HEAD_MAX + size + 1);
    if (!line)
        return 2;
    memset(line + HEAD_MAX, 'x', size);
    line[HEAD_MAX + size] = '\n';

    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    char ready[4096];
    snprintf(ready, sizeof ready, "%s/%s", argv[6], tag);
    int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("linewriter: ready file");
        return 2;
    }
    close(fd);
    int signo;
    sigwait(&usr1, &signo);  /* go */

    if (strcmp(mode, "flood") == 0) {
        for (long i = 0; i < count; i++)
            put(i);
    } else if (strcmp(mode, "paced") == 0) {
        struct timespec gap = {interval_us / 1000000, (interval_us % 1000000) * 1000};
        for (long i = 0; i < count; i++) {
            put(i);
            while (clock_nanosleep(CLOCK_MONOTONIC, 0, &gap, &gap) == EINTR) {
            }
            gap.tv_sec = interval_us / 1000000;
            gap.tv_nsec = (interval_us % 1000000) * 1000;
        }
    } else if (strcmp(mode, "endless") == 0) {
        struct timespec zero = {0, 0};
        for (long i = 0;;) {
            for (int k = 0; k < 100; k++)
                put(i++);
            if (sigtimedwait(&usr1, NULL, &zero) == SIGUSR1)
                return 0;
        }
    } else {
        fprintf(stderr, "linewriter: unknown mode %s\n", mode);
        return 2;
    }
    sigwait(&usr1, &signo);  /* quit */
    return 0;
}
