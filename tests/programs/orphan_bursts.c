/* Test program: BURSTS times, fork a spawner that forks SIZE children and exits, leaving them
 * orphaned; each orphan exits as soon as its spawner is gone.  Prints "done" when every burst
 * has been spawned, then waits for SIGTERM and exits 0.  Written in C because Python forks too
 * slowly for 100,000 orphans.  Usage: orphan_bursts BURSTS SIZE */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void spawn_burst(int size) {
    int fds[2];
    if (pipe(fds) != 0) _exit(2);
    for (int i = 0; i < size; i++) {
        pid_t pid = fork();
        if (pid == 0) {            /* an orphan-to-be: wait for the spawner to go, then exit */
            char c;
            close(fds[1]);
            while (read(fds[0], &c, 1) > 0) {}
            _exit(0);
        }
        if (pid < 0) { usleep(1000); i--; }   /* out of pids for a moment: retry */
    }
    _exit(0);                      /* closing fds[1] releases them all at once */
}

int main(int argc, char **argv) {
    int bursts = argc > 1 ? atoi(argv[1]) : 100, size = argc > 2 ? atoi(argv[2]) : 1000;
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);
    for (int b = 0; b < bursts; b++) {
        pid_t spawner = fork();
        if (spawner == 0) spawn_burst(size);
        waitpid(spawner, NULL, 0);
    }
    printf("done\n");
    fflush(stdout);
    int sig;
    sigwait(&term, &sig);
    return 0;
}
