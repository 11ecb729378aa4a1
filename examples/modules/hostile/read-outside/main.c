/*
 * hostile/read-outside: tries to escape its storage grant.
 *
 * The manifest grants only "storage:read:docs", so sandbench preopens the
 * bucket read-only at /storage/docs and nothing else. This module tries to
 *   1. read /etc/passwd                       (absolute host path)
 *   2. read /storage/docs/../../etc/passwd    (".." out of the bucket)
 *   3. read /storage/../etc/hostname          (".." beside the bucket)
 *   4. create /storage/docs/pwned.txt         (write to a read-only bucket)
 * and logs one line per attempt to stderr, e.g.
 *   open /etc/passwd: Capabilities insufficient
 *
 * If any attempt succeeds it prints a 200 response carrying what leaked (the
 * file content, or the fact that the write went through) and exits 0. If all
 * are denied it prints nothing on stdout, logs "all attempts denied" and
 * exits 1.
 *
 * Expected sandbench verdict: `exit` with code 1 and the denials in the
 * stderr tail. A 200 response means the sandbox leaked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_LEAK 4096

static char leak[MAX_LEAK];

/* Reads at most MAX_LEAK bytes of `path`. Returns the count, or -1 with
 * errno set. */
static ssize_t try_read(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < sizeof leak) {
        ssize_t n = read(fd, leak + got, sizeof leak - got);
        if (n < 0) {
            int saved = errno;
            (void)close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    (void)close(fd);
    return (ssize_t)got;
}

/* Creates `path` and writes a marker into it. Returns 0 or -1 with errno. */
static int try_create(const char *path)
{
    static const char marker[] = "pwned by hostile/read-outside\n";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, marker, sizeof marker - 1);
    int saved = errno;
    (void)close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    return 0;
}

int main(void)
{
    static const char *const reads[] = {
        "/etc/passwd",
        "/storage/docs/../../etc/passwd",
        "/storage/../etc/hostname",
    };
    static const char created[] = "/storage/docs/pwned.txt";
    int leaked = 0;

    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        errno = 0;
        ssize_t n = try_read(reads[i]);
        if (n < 0) {
            fprintf(stderr, "open %s: %s\n", reads[i], strerror(errno));
            continue;
        }
        fprintf(stderr, "open %s: LEAKED %zd bytes\n", reads[i], n);
        if (!leaked)
            fputs("Status: 200 OK\nContent-Type: text/plain\n\n", stdout);
        leaked = 1;
        printf("--- %s (%zd bytes)\n", reads[i], n);
        fwrite(leak, 1, (size_t)n, stdout);
        putchar('\n');
    }

    errno = 0;
    if (try_create(created) != 0) {
        fprintf(stderr, "create %s: %s\n", created, strerror(errno));
    } else {
        fprintf(stderr, "create %s: WRITTEN\n", created);
        if (!leaked)
            fputs("Status: 200 OK\nContent-Type: text/plain\n\n", stdout);
        leaked = 1;
        printf("--- wrote %s in a read-only bucket\n", created);
    }

    if (leaked)
        return 0;
    fputs("all attempts denied\n", stderr);
    return 1;
}
