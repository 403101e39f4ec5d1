/*
 * utf8.c — UTF-8 validation and character boundaries.
 *
 * The validator follows the table of well-formed byte sequences in the
 * Unicode standard (Table 3-7), which is RFC 3629: the second byte's range
 * depends on the first so that overlong forms (C0, C1, E0 80..9F, F0
 * 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..,
 * F5..FF) are refused. ASCII, which most text mostly is, is skipped eight
 * bytes at a time. No allocation, no state: thread-safe.
 */
#include "utf8.h"
#include <stdint.h>
#include <string.h>

size_t vdb_utf8_invalid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
		if (c >= 0xC2 && c <= 0xDF)
			len = 2;
		else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else
			return i;
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
		i += len;
	}
	return n;
}

size_t vdb_utf8_floor(const unsigned char *s, size_t pos)
{
	for (int k = 0; k < 3 && pos > 0 && (s[pos] & 0xC0) == 0x80; k++)
		pos--;
	return pos;
}
