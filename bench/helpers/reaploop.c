/* The C floor of an init's reaping loop, for `make bench-profile`.
 *
 *   reaploop N
 *
 * Forks N children that _exit(0) at once, waits until all N are zombies, then times the loop
 * an init runs on SIGCHLD: waitpid(-1, WNOHANG | WUNTRACED | WCONTINUED) until it returns 0.
 * One child stays alive meanwhile (as an init's main program does), so the loop ends on 0, not
 * on ECHILD.  Prints the nanoseconds per zombie reaped.
 *
 * The same loop in Python (bench/profile.py) minus this is what the interpreter adds per
 * zombie; the kernel's own work (release_task, freeing the pid) is in both.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: reaploop N\n");
        return 2;
    }
    int n = atoi(argv[1]);
    pid_t keeper = fork();
    if (keeper == 0) {
        pause();
        _exit(0);
    }
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            perror("reaploop: fork");
            return 1;
        }
    }
    /* Counting zombies without reaping them has no cheap call: give them time to exit. */
    struct timespec settle = {0, 300 * 1000000L};
    nanosleep(&settle, NULL);
    int reaped = 0;
    long long start = now_ns();
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED);
        if (pid <= 0)
            break;
        reaped++;
    }
    long long took = now_ns() - start;
    kill(keeper, SIGKILL);
    waitpid(keeper, NULL, 0);
    if (reaped != n) {
        fprintf(stderr, "reaploop: reaped %d of %d (not all had exited yet)\n", reaped, n);
        return 1;
    }
    printf("%.1f\n", (double)took / n);
    return 0;
}
