/* text.h — the subcommands of vdb-text, each in its own file; vdb-text.c
 * only dispatches. Each takes argv from its own name on (argv[0] is
 * "chunk", "embed" or "tokens") and returns the exit status. */
#ifndef VDB_CMD_TEXT_H
#define VDB_CMD_TEXT_H
#include "common.h"

int text_chunk(int argc, char **argv); /* text_chunk.c */
int text_embed(int argc, char **argv); /* text_embed.c */
int text_tokens(int argc, char **argv); /* text_tokens.c */
#endif
