// SPDX-License-Identifier: Apache-2.0
/* kiln top: being written (issue 7). */
#include <stdio.h>

#include "commands.h"

int cmd_top(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "%s: not built yet\n", argv[0]);
	return 1;
}
