/* The program under the init for the signal, idle, memory and stop scenarios.
 *
 *   sigrecv FIFO
 *
 * Opens FIFO for writing and writes an 8-byte ready marker (0).  On every SIGUSR1 the handler
 * reads CLOCK_MONOTONIC and writes it (8 bytes, one atomic pipe write) to the FIFO: the sender
 * took its own timestamp just before kill(), so the difference is the delivery latency, with
 * no scheduling of this program's main loop in between.  SIGTERM exits at once (status 0),
 * also as PID 1 (the `none` baseline), where a default disposition would be ignored.
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

static void on_usr1(int signo) {
    (void)signo;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    (void)!write(out, &ns, sizeof ns);
}

static void on_term(int signo) {
    (void)signo;
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: sigrecv FIFO\n");
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
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_term;
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
