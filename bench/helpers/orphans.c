/* The program under the init for the reaping scenario.
 *
 *   orphans N RESULT_FILE
 *
 * A middle process starts N children, each blocked reading a pipe, and exits: the N become
 * orphans of the init.  Then this program closes the pipe's write end, so all N see EOF and
 * exit at once, and it samples until every one has been reaped:
 *   reaped  = the pids for which kill(pid, 0) fails with ESRCH (a zombie still holds its pid;
 *             nobody else forks in this namespace, so a pid is never reused meanwhile);
 *   exited  = a counter in shared memory that each orphan bumps just before its exit();
 *   zombies ~ exited - reaped (an orphan still in its exit path counts a few microseconds early).
 * Cheap on purpose: scanning /proc costs ~100 ms at 20,000 entries and pidfds would need more
 * open files than an unprivileged container may have; each sample only kill()s the pids not
 * yet seen reaped, and the pause between samples is twice the sample's own cost, so the
 * sampler never takes more than a third of a CPU from the init being measured.
 *
 * The children are started with clone(CLONE_VM) on small stacks of their own: separate
 * processes (own pid, own thread group, orphans like any other), but without copying page
 * tables, so creating 20,000 takes a fraction of what fork() takes and their exit is light:
 * what is left to measure after the release is mostly the init's reaping.
 *
 * With a third argument, SYNC_FIFO, the run is staged for a frozen init instead, to time the
 * init's reaping alone: the orphans get a session of their own (so no orphaned-group check
 * slows their exits, see below), this program writes an 8-byte 1 to SYNC_FIFO once they are
 * created and waits for SIGUSR2 (the harness has SIGSTOPped the init meanwhile), releases them,
 * writes 2 once every one has exited, and times until all are reaped (the harness SIGCONTs the
 * init after the 2).  RESULT_FILE then gets "DONE_NS SAMPLES CREATED INIT_CPU_NS", DONE_NS
 * being CLOCK_MONOTONIC when none was left, for the harness to subtract its SIGCONT time from.
 *
 * Writes "ELAPSED_NS LAST_EXIT_NS PEAK_ZOMBIES SAMPLES CREATED INIT_CPU_NS" to RESULT_FILE and
 * exits 0 (1 on trouble).  INIT_CPU_NS is the CPU time PID 1 used meanwhile (its schedstat): the
 * init's own cost of reaping, whatever the scheduler made of the wall time.  ELAPSED runs from the close() that releases them to the first sample that finds
 * none left; LAST_EXIT from the same close() to the moment the last orphan started its exit
 * (exact: the last one reads the clock), so ELAPSED - LAST_EXIT is the reaping that was still
 * to do once the herd was gone.  While 20,000 runnable processes share the CPUs the sampler
 * gets few turns, so the peak is a lower bound taken from a few samples.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STACK_SIZE (16 * 1024)

struct shared {
    long started; /* orphans on their way to read() */
    long exited;  /* orphans on their way out */
    long ready;   /* set by the middle: all N started */
    long n;
    int64_t last_exit_ns; /* CLOCK_MONOTONIC when the last one was on its way out */
};

static struct shared *sh;
static int barrier[2];

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time PID 1 (the init, seen from inside the namespace) has used so far, in ns. */
static int64_t init_cpu_ns(void) {
    long long ns = -1;
    FILE *f = fopen("/proc/1/schedstat", "r");
    if (f) {
        if (fscanf(f, "%lld", &ns) != 1)
            ns = -1;
        fclose(f);
    }
    return ns;
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* An orphan-to-be: raw system calls only (it shares the middle's memory and TLS). */
static int orphan(void *arg) {
    (void)arg;
    char c;
    __atomic_add_fetch(&sh->started, 1, __ATOMIC_SEQ_CST);
    while (syscall(SYS_read, barrier[0], &c, 1) < 0) /* 0 (EOF) once released */
        ;
    if (__atomic_add_fetch(&sh->exited, 1, __ATOMIC_SEQ_CST) == sh->n) {
        struct timespec ts;
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        sh->last_exit_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    syscall(SYS_exit, 0);
    return 0;
}

/* Kill(pid, 0) every pid not yet seen reaped, until none is left; returns the number of
 * passes.  A pass costs ~0.3 us per pid: the pause after it is twice its cost, so the sampler
 * takes at most a third of a CPU from the init. */
static long until_all_reaped(pid_t *pids, long n, int64_t deadline) {
    long left = n, samples = 0;
    while (left > 0 && now_ns() < deadline) {
        int64_t start = now_ns();
        long kept = 0;
        for (long i = 0; i < left; i++)
            if (!(kill(pids[i], 0) != 0 && errno == ESRCH))
                pids[kept++] = pids[i];
        left = kept;
        samples++;
        if (left == 0)
            break;
        int64_t pause = 2 * (now_ns() - start);
        struct timespec ts = {0, pause < 200000 ? 200000 : pause > 20000000 ? 20000000 : pause};
        nanosleep(&ts, NULL);
    }
    return left == 0 ? samples : -1;
}

static int tell(int fd, int64_t what) {
    return write(fd, &what, sizeof what) == sizeof what ? 0 : -1;
}

static int frozen(long n, pid_t *pids, const char *result, const char *sync_path, sigset_t *usr2) {
    int sync = open(sync_path, O_WRONLY | O_CLOEXEC);
    if (sync < 0 || tell(sync, 1) != 0)
        return 1;
    int signo;
    sigwait(usr2, &signo); /* the init is stopped now */
    close(barrier[1]);
    int64_t deadline = now_ns() + 120LL * 1000000000;
    while (__atomic_load_n(&sh->exited, __ATOMIC_SEQ_CST) < n && now_ns() < deadline)
        pause_ms(1);
    pause_ms(20); /* from the counter to the zombie state: a few microseconds of exit path */
    int64_t cpu0 = init_cpu_ns();
    if (tell(sync, 2) != 0)
        return 1;
    long samples = until_all_reaped(pids, n, now_ns() + 120LL * 1000000000);
    int64_t done = now_ns();
    int64_t cpu1 = init_cpu_ns();
    FILE *f = fopen(result, "w");
    if (!f)
        return 1;
    fprintf(f, "%lld %ld %ld %lld\n", (long long)done, samples, n,
            (long long)(cpu0 < 0 || cpu1 < 0 ? -1 : cpu1 - cpu0));
    fclose(f);
    return samples < 0;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: orphans N RESULT_FILE [SYNC_FIFO]\n");
        return 2;
    }
    long n = atol(argv[1]);
    const char *sync_path = argc == 4 ? argv[3] : NULL;
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, NULL); /* before the harness could send it */
    /* Shared with the middle and so with the orphans (MAP_SHARED survives the fork; the
     * orphans share the middle's memory): the orphans' pids and the counters. */
    pid_t *pids = mmap(NULL, n * sizeof *pids, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (n <= 0 || pids == MAP_FAILED || sh == MAP_FAILED || pipe(barrier) != 0) {
        perror("orphans: setup");
        return 1;
    }
    sh->n = n;
    pid_t middle = fork();
    if (middle < 0) {
        perror("orphans: fork");
        return 1;
    }
    if (middle == 0) {
        char *stacks = mmap(NULL, n * STACK_SIZE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (stacks == MAP_FAILED) {
            perror("orphans: mmap stacks");
            _exit(1);
        }
        close(barrier[1]);
        if (sync_path && setsid() < 0) {
            perror("orphans: setsid");
            _exit(1);
        }
        for (long i = 0; i < n; i++) {
            pid_t pid = clone(orphan, stacks + (i + 1) * STACK_SIZE, CLONE_VM | SIGCHLD, NULL);
            if (pid < 0) {
                perror("orphans: clone");
                _exit(1);
            }
            pids[i] = pid;
        }
        /* Wait until every one is on its way to read(), then leave them to the init. */
        while (__atomic_load_n(&sh->started, __ATOMIC_SEQ_CST) < n)
            pause_ms(1);
        sh->ready = 1;
        _exit(0);
    }
    close(barrier[0]);
    int status;
    waitpid(middle, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !sh->ready)
        return 1;
    pause_ms(50); /* let the last ones get from the counter into read() */
    if (sync_path)
        return frozen(n, pids, argv[2], sync_path, &usr2);
    long left = n, reaped = 0, peak = 0, samples = 0;
    int64_t cpu0 = init_cpu_ns();
    int64_t t0 = now_ns();
    close(barrier[1]);
    int64_t elapsed = -1, deadline = t0 + 120LL * 1000000000;
    for (;;) {
        int64_t start = now_ns();
        long exited = __atomic_load_n(&sh->exited, __ATOMIC_SEQ_CST);
        long kept = 0;
        for (long i = 0; i < left; i++) {
            if (kill(pids[i], 0) != 0 && errno == ESRCH)
                reaped++;
            else
                pids[kept++] = pids[i];
        }
        left = kept;
        samples++;
        if (exited - reaped > peak)
            peak = exited - reaped;
        int64_t end = now_ns();
        if (left == 0) {
            elapsed = end - t0;
            break;
        }
        if (end > deadline)
            break;
        int64_t pause = 2 * (end - start);
        struct timespec ts = {0, pause < 1000000 ? 1000000 : pause > 20000000 ? 20000000 : pause};
        nanosleep(&ts, NULL);
    }
    FILE *f = fopen(argv[2], "w");
    if (!f)
        return 1;
    int64_t cpu1 = init_cpu_ns();
    int64_t last_exit = sh->last_exit_ns ? sh->last_exit_ns - t0 : -1;
    fprintf(f, "%lld %lld %ld %ld %ld %lld\n", (long long)elapsed, (long long)last_exit, peak, samples, n,
            (long long)(cpu0 < 0 || cpu1 < 0 ? -1 : cpu1 - cpu0));
    fclose(f);
    return elapsed < 0;
}
