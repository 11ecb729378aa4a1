/*
 * hostile/output-flood: prints a valid CGI header, then writes 64 KiB chunks
 * to stdout forever, ignoring every write error (sandbench fails writes past
 * its output cap with EFBIG; this module does not care and keeps going).
 *
 * Expected sandbench verdict: `output` (then the loop runs into `cpu` or
 * `timeout`, since it never stops on its own).
 */
#include <string.h>
#include <unistd.h>

#define CHUNK (64u * 1024u)

static char chunk[CHUNK];

int main(void)
{
    static const char head[] =
        "Status: 200 OK\nContent-Type: application/octet-stream\n\n";
    (void)write(1, head, sizeof head - 1);
    memset(chunk, 'A', sizeof chunk);
    for (;;)
        (void)write(1, chunk, sizeof chunk); /* errors deliberately ignored */
}
