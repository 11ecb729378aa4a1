/*
 * hostile/memory-bomb: allocates 1 MiB blocks and touches every byte until
 * malloc returns NULL (the store's memory limit makes memory.grow fail), then
 * calls abort(), which in wasi-libc is a trap (`unreachable`).
 *
 * Expected sandbench verdict: `memory` (a module that fails after reaching
 * its memory limit).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (1024u * 1024u)

/* Every block is published here, so the compiler cannot prove the memory is
 * unused and drop the malloc/memset pair. */
static void *volatile sink;

static void say(const char *s)
{
    (void)write(2, s, strlen(s));
}

int main(void)
{
    unsigned blocks = 0;
    for (;;) {
        char *p = malloc(BLOCK);
        if (p == NULL)
            break;
        memset(p, 0xA5, BLOCK);
        sink = p; /* never freed */
        blocks++;
    }
    /* Report how far it got: decimal by hand, no printf. */
    char digits[12];
    size_t n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + blocks % 10u);
        blocks /= 10u;
    } while (blocks != 0);
    say("memory-bomb: malloc returned NULL after ");
    (void)write(2, digits + sizeof digits - n, n);
    say(" MiB; aborting\n");
    abort();
}
