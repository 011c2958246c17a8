/* cxone-mock: entry point. Parses flags, starts the server, prints the port, waits for
 * SIGTERM/SIGINT and shuts down freeing everything. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mock.h"

int main(int argc, char **argv)
{
    struct mock_options opt;
    char err[512];
    if (cli_defaults(&opt) != 0) {
        fputs("cxone-mock: out of memory\n", stderr);
        return 1;
    }
    int rc = cli_parse(argc, argv, &opt, err, sizeof err);
    if (rc != 0) {
        cli_free(&opt);
        if (rc > 0)
            return 0;
        fprintf(stderr, "cxone-mock: %s\nTry 'cxone-mock --help'.\n", err);
        return 2;
    }
    /* Block the stop signals in every thread (MHD's inherit the mask); main waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0); /* before any thread uses jansson */

    struct mock *m = calloc(1, sizeof *m);
    if (!m) {
        fputs("cxone-mock: out of memory\n", stderr);
        cli_free(&opt);
        return 1;
    }
    bool quiet = opt.quiet;
    unsigned port = 0;
    if (mock_init(m, &opt, err, sizeof err) != 0 ||
        mock_listen(m, opt.port, opt.threads, opt.quiet, &port, err, sizeof err) != 0) {
        fprintf(stderr, "cxone-mock: %s\n", err);
        mock_destroy(m);
        free(m);
        cli_free(&opt);
        return 1;
    }
    printf("%u\n", port);
    fflush(stdout);
    if (!quiet)
        fprintf(stderr, "cxone-mock: listening on http://127.0.0.1:%u (%s, %zu known contacts)\n", port,
                opt.any_contact ? "any contact id exists" : "known contacts only", contacts_known(m->contacts));
    cli_free(&opt);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {
    }
    if (!quiet)
        fprintf(stderr, "cxone-mock: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    mock_shutdown(m);
    mock_destroy(m);
    free(m);
    return 0;
}
