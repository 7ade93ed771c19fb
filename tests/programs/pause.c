/* Test program: a pod's "pause" process, the PID 1 of a pod whose containers share one PID
 * namespace (shareProcessNamespace: true).  It does nothing but reap whatever is re-parented to
 * it, and exits 0 on SIGTERM or SIGINT, as the pod sandbox's PID 1 does when the pod goes.
 *
 * Usage: pause
 * Every signal it acts on is blocked and taken with sigwait: no handler, no race between a
 * check and a sleep, and (as PID 1) no signal dropped for lack of a handler.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

int main(void) {
    sigset_t wanted;
    int signo;

    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigprocmask(SIG_BLOCK, &wanted, NULL);
    for (;;) {
        if (sigwait(&wanted, &signo) != 0)
            continue;
        if (signo != SIGCHLD)
            return 0;
        /* One SIGCHLD may stand for many exits: reap until nothing is left to reap. */
        for (;;) {
            pid_t pid = waitpid(-1, NULL, WNOHANG);
            if (pid == 0 || (pid < 0 && errno != EINTR))
                break; /* nothing more has exited, or no child is left (ECHILD) */
        }
    }
}
