/*
 * nest_mutator.c — a mutator for the text harnesses (JSONL, filters, YAML
 * configs) that makes inputs deeper and longer in the ways that exhaust a
 * parser's stack, time or memory, which byte mutations reach only by luck
 * (libFuzzer rewards a deeper stack, but in steps, and a bracket added
 * without its partner only makes a syntax error). One call in four it
 * takes a random place of the input and
 *   - wraps the bracketed span there ( (...), [...], {...} ) in k more
 *     copies of its own opening (the bracket, or an object's `{"key": `
 *     up to the span nested in it) and closing: nesting k levels deeper;
 *   - or repeats k times a run of '!', an `&& term` or `|| term` of a
 *     filter, or a whole line (JSONL records, YAML list items and aliases);
 *     (or a chain's next k terms twice);
 * with k a power of two up to 16384, as long as the input stays within
 * max_size. Otherwise, and when nothing fits, libFuzzer's own mutation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int opener(uint8_t c) { return c == '(' || c == '[' || c == '{'; }
static int closer(uint8_t c) { return c == ')' || c == ']' || c == '}'; }

/* The closer matching the opener at i (strings skipped), or 0. */
static size_t match(const uint8_t *d, size_t n, size_t i)
{
	int depth = 0, str = 0;
	for (size_t j = i; j < n; j++) {
		if (str) {
			if (d[j] == '\\')
				j++;
			else if (d[j] == '"')
				str = 0;
		} else if (d[j] == '"') {
			str = 1;
		} else if (opener(d[j])) {
			depth++;
		} else if (closer(d[j]) && --depth == 0) {
			return j;
		}
	}
	return 0;
}

/* Replace d[a..b) by head x k, d[a..b), tail x k, where head and tail are
 * ranges of d. Returns the new size, or 0 if it would not fit. */
static size_t wrap(uint8_t *d, size_t n, size_t max, size_t a, size_t b, size_t h0, size_t h1,
                   size_t t0, size_t t1, size_t k)
{
	size_t hl = h1 - h0, tl = t1 - t0;
	if (!k || hl + tl == 0 || (hl + tl) > (max - n) / k)
		return 0;
	uint8_t head[64], tail[64];
	if (hl > sizeof head || tl > sizeof tail)
		return 0;
	memcpy(head, d + h0, hl);
	memcpy(tail, d + t0, tl);
	size_t grow_h = hl * k, grow_t = tl * k;
	memmove(d + b + grow_h + grow_t, d + b, n - b);
	memmove(d + a + grow_h, d + a, b - a);
	for (size_t i = 0; i < k; i++) {
		memcpy(d + a + i * hl, head, hl);
		memcpy(d + b + grow_h + i * tl, tail, tl);
	}
	return n + grow_h + grow_t;
}

/* d[a..b) repeated k times in all (k - 1 more copies after it). */
static size_t repeat(uint8_t *d, size_t n, size_t max, size_t a, size_t b, size_t k)
{
	size_t l = b - a;
	if (l == 0 || k < 2 || l > (max - n) / (k - 1))
		return 0;
	memmove(d + b + l * (k - 1), d + b, n - b);
	for (size_t i = 1; i < k; i++)
		memmove(d + a + i * l, d + a, l);
	return n + l * (k - 1);
}

/* Deeper or longer at a place after `from`, k times (or, many: a chain's
 * next k terms doubled); 0 if nothing there fits. */
static size_t deepen(uint8_t *d, size_t n, size_t max, size_t from, size_t k, int many)
{
	for (size_t i = from; i < n; i++) {
		if (opener(d[i])) {
			size_t j = match(d, n, i);
			if (!j)
				continue;
			/* the opening up to the first bracket nested inside: `{"a": ` */
			size_t m = i + 1;
			while (m < j && !opener(d[m]) && !closer(d[m]))
				m++;
			size_t mj = m < j && opener(d[m]) ? match(d, n, m) : 0;
			if (mj && mj < j && m - i <= 64 && j + 1 - (mj + 1) <= 64)
				return wrap(d, n, max, i, j + 1, i, m, mj + 1, j + 1, k);
			return wrap(d, n, max, i, j + 1, i, i + 1, j, j + 1, k);
		}
		if (d[i] == '!')
			return repeat(d, n, max, i, i + 1, k);
		if (i + 1 < n && (d[i] == '&' || d[i] == '|') && d[i + 1] == d[i]) {
			/* the operator and its term, or with the terms of up to `ops`
			 * more operators, up to the end of the chain */
			size_t e = i + 2, ops = many ? k - 1 : 0;
			for (; e < n && d[e] != ')' && d[e] != '\n'; e++)
				if (e + 1 < n && (d[e] == '&' || d[e] == '|') && d[e + 1] == d[e] && ops-- == 0)
					break;
			return repeat(d, n, max, i, e, many ? 2 : k);
		}
		if (d[i] == '\n' && i + 1 < n) {
			/* the next line, newline included */
			const uint8_t *nl = memchr(d + i + 1, '\n', n - i - 1);
			size_t e = nl ? (size_t)(nl - d) + 1 : n;
			return repeat(d, n, max, i + 1, e, k);
		}
	}
	return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint64_t r = mix(seed * 0x9E3779B97F4A7C15ull + size);
	if (size && size < max_size && r % 4 == 0) {
		size_t k = (size_t)1 << (mix(r) % 15), from = (size_t)(mix(r + 1) % size);
		int many = (int)(mix(r + 2) & 1);
		size_t n = deepen(data, size, max_size, from, k, many);
		if (!n)
			n = deepen(data, size, max_size, 0, k, many);
		if (n)
			return n;
	}
	return LLVMFuzzerMutate(data, size, max_size);
}
