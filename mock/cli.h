/* Command-line parsing for cxone-mock. */
#ifndef CXONE_MOCK_CLI_H
#define CXONE_MOCK_CLI_H

#include <stdio.h>

#include "mock.h"

/* Defaults of --seed and --no-value-fraction (the help text prints these). */
#define CLI_DEFAULT_SEED 1
#define CLI_DEFAULT_NO_VALUE_FRACTION 0.1

/* Defaults for every option. 0, or -1 on allocation failure. */
int cli_defaults(struct mock_options *o);
void cli_free(struct mock_options *o);
/* 0: run; 1: --help was asked (usage already printed to stdout); -1: bad command line,
 * message (naming the flag) in err. */
int cli_parse(int argc, char **argv, struct mock_options *o, char *err, size_t errlen);
void cli_usage(FILE *f);

#endif
