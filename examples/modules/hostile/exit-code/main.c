/*
 * hostile/exit-code: writes a perfectly valid 200 response, then exits with
 * status 3.
 *
 * Expected sandbench verdict: `exit` with code 3 (a non-zero exit status is a
 * violation even when a response was written).
 */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    fputs("Status: 200 OK\nContent-Type: text/plain\n\nlooks fine, but...\n",
          stdout);
    fputs("exit-code: exiting with status 3\n", stderr);
    exit(3); /* flushes stdout first */
}
