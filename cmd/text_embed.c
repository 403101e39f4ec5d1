/* text_embed.c — vdb-text embed (being written: see issue 18). */
#include "text.h"

int text_embed(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cmd_usage_error("embed is not written yet");
}
