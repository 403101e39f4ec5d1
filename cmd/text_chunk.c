/* text_chunk.c — vdb-text chunk (being written: see issue 18). */
#include "text.h"

int text_chunk(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cmd_usage_error("chunk is not written yet");
}
