/* The sender for the signal-latency scenario.
 *
 *   sigping ROUNDS GAP_US PID:FD [PID:FD ...]
 *
 * Each round sends SIGUSR1 to every target in turn (round-robin, so machine noise hits every
 * init alike): read CLOCK_MONOTONIC, kill(PID), then block on FD (the receiving sigrecv's FIFO,
 * inherited from the harness) for the handler's timestamp.  One ping at a time: the next is
 * sent only after the previous one arrived, then GAP_US later.  Prints "TARGET LATENCY_NS" per
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
    if (argc < 4) {
        fprintf(stderr, "usage: sigping ROUNDS GAP_US PID:FD...\n");
        return 2;
    }
    long rounds = atol(argv[1]);
    long gap_us = atol(argv[2]);
    int n = argc - 3;
    pid_t *pids = calloc(n, sizeof *pids);
    int *fds = calloc(n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        if (sscanf(argv[3 + i], "%d:%d", &pids[i], &fds[i]) != 2) {
            fprintf(stderr, "sigping: bad target %s\n", argv[3 + i]);
            return 2;
        }
    }
    struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < n; k++) {
            int i = (int)((k + r) % n); /* rotate who goes first in each round */
            int64_t sent = now_ns();
            if (kill(pids[i], SIGUSR1) != 0) {
                perror("sigping: kill");
                return 1;
            }
            struct pollfd p = {fds[i], POLLIN, 0};
            int64_t got = -1;
            if (poll(&p, 1, 2000) == 1 && read(fds[i], &got, sizeof got) == sizeof got)
                printf("%d %lld\n", i, (long long)(got - sent));
            else
                printf("%d -1\n", i);
            nanosleep(&gap, NULL);
        }
    }
    return 0;
}
