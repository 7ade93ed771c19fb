/* The sender for the signal-latency scenario.
 *
 *   sigping ROUNDS GAP_US SIGNALS PID:FD [PID:FD ...]
 *
 * SIGNALS is a comma-separated list of signal numbers (e.g. 15,10): round r sends the
 * (r mod count)-th of them, so with two every target gets them in turn.  Each round goes to
 * every target (round-robin, the first one rotating, so machine noise hits every init alike):
 * read CLOCK_MONOTONIC, kill(PID), then block on FD (the receiving sigrecv's FIFO, inherited
 * from the harness) for the handler's timestamp.  One ping at a time: the next is sent only
 * after the previous one arrived, then GAP_US later.  Prints "TARGET SIGNAL LATENCY_NS" per
 * ping; a ping with no answer within 2 s prints -1 (lost) and the run goes on.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: sigping ROUNDS GAP_US SIGNALS PID:FD...\n");
        return 2;
    }
    long rounds = atol(argv[1]);
    long gap_us = atol(argv[2]);
    int sigs[16], nsigs = 0;
    for (char *word = strtok(argv[3], ","); word != NULL && nsigs < 16; word = strtok(NULL, ","))
        sigs[nsigs++] = atoi(word);
    for (int s = 0; s < nsigs; s++) {
        if (sigs[s] <= 0 || sigs[s] >= NSIG) {
            fprintf(stderr, "sigping: bad signal list %s\n", argv[3]);
            return 2;
        }
    }
    if (nsigs == 0) {
        fprintf(stderr, "sigping: no signals\n");
        return 2;
    }
    int n = argc - 4;
    pid_t *pids = calloc(n, sizeof *pids);
    int *fds = calloc(n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        if (sscanf(argv[4 + i], "%d:%d", &pids[i], &fds[i]) != 2) {
            fprintf(stderr, "sigping: bad target %s\n", argv[4 + i]);
            return 2;
        }
    }
    struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
    for (long r = 0; r < rounds; r++) {
        int signo = sigs[r % nsigs];
        for (int k = 0; k < n; k++) {
            int i = (int)((k + r) % n); /* rotate who goes first in each round */
            int64_t sent = now_ns();
            if (kill(pids[i], signo) != 0) {
                perror("sigping: kill");
                return 1;
            }
            struct pollfd p = {fds[i], POLLIN, 0};
            int64_t got = -1;
            if (poll(&p, 1, 2000) == 1 && read(fds[i], &got, sizeof got) == sizeof got)
                printf("%d %d %lld\n", i, signo, (long long)(got - sent));
            else
                printf("%d %d -1\n", i, signo);
            nanosleep(&gap, NULL);
        }
    }
    return 0;
}
