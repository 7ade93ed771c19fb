/* The program under the init for the signal, idle, memory and stop scenarios.
 *
 *   sigrecv FIFO [stop|stamp]
 *
 * Opens FIFO for writing and writes an 8-byte ready marker (0).  On every SIGUSR1 the handler
 * reads CLOCK_MONOTONIC and writes it (8 bytes, one atomic pipe write) to the FIFO: the sender
 * took its own timestamp just before kill(), so the difference is the delivery latency, with
 * no scheduling of this program's main loop in between.
 *
 * SIGTERM depends on the mode:
 *   stop  (the default): write the timestamp too, then exit at once (status 0), also as PID 1
 *         (the `none` baseline), where a default disposition would be ignored.  The stop
 *         scenario times the whole way down; the stamp tells when the TERM got here.
 *   stamp: SIGTERM is timestamped like SIGUSR1 and the program carries on: the signal scenario
 *         alternates the two, and a stop signal must be as cheap to forward as any other.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int out = -1;

static void stamp(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    (void)!write(out, &ns, sizeof ns);
}

static void on_signal(int signo) {
    (void)signo;
    stamp();
}

static void on_term_exit(int signo) {
    (void)signo;
    stamp();
    _exit(0);
}

int main(int argc, char **argv) {
    int exit_on_term = 1;
    if (argc == 3 && strcmp(argv[2], "stamp") == 0)
        exit_on_term = 0;
    else if (!(argc == 2 || (argc == 3 && strcmp(argv[2], "stop") == 0))) {
        fprintf(stderr, "usage: sigrecv FIFO [stop|stamp]\n");
        return 2;
    }
    out = open(argv[1], O_WRONLY | O_CLOEXEC);
    if (out < 0) {
        perror("sigrecv: open");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = exit_on_term ? on_term_exit : on_signal;
    sigaction(SIGTERM, &sa, NULL);
    /* Whatever mask the init left us: these two must get through (inits are tested elsewhere). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    int64_t ready = 0;
    if (write(out, &ready, sizeof ready) != sizeof ready)
        return 2;
    for (;;)
        pause();
}
