// embed_fasttext.cc — the only C++ in vdb: a thin shim over Debian's
// libfasttext behind a C interface (embed_internal.h). It only calls
// fastText; every exception stops here. The model's bytes were checked
// whole (embed_fasttext_check.c) before they get here, so a file that is
// not a fastText model never reaches libfasttext.
//
// getSentenceVector is called from several threads on one loaded model: it
// only reads the model (the dictionary's and the input matrix's const
// lookups) and writes the caller's Vector and its own locals.
#include "embed_internal.h"
#include <cstring>
#include <exception>
#include <istream>
#include <sstream>
#include <streambuf>
#include <string>
#include <fasttext/fasttext.h>

namespace {
// The bytes of a model file as a stream, read in place.
struct membuf : std::streambuf {
	membuf(const char *p, size_t n)
	{
		char *b = const_cast<char *>(p);
		setg(b, b, b + n);
	}
};

// fastText's own loadModel(filename) is checkModel then loadModel(stream):
// the same two steps on a stream over the bytes vdb checked and hashed.
struct model : fasttext::FastText {
	void load(std::istream &in)
	{
		if (!checkModel(in))
			throw std::invalid_argument("wrong file format");
		loadModel(in);
	}
};

void set_msg(char *msg, size_t n, const char *what)
{
	if (n)
		snprintf(msg, n, "%s", what);
}
} // namespace

struct vdb_ft {
	model m;
};

extern "C" vdb_ft *vdb_ft_load(const void *bytes, size_t len, char *msg, size_t msglen)
{
	vdb_ft *f = nullptr;
	try {
		f = new vdb_ft;
		membuf buf(static_cast<const char *>(bytes), len);
		std::istream in(&buf);
		f->m.load(in);
		return f;
	} catch (const std::exception &e) {
		set_msg(msg, msglen, e.what());
	} catch (...) {
		set_msg(msg, msglen, "libfasttext failed to load the model");
	}
	delete f;
	return nullptr;
}

extern "C" int vdb_ft_dim(const vdb_ft *f)
{
	return f->m.getDimension();
}

extern "C" int vdb_ft_sentence(vdb_ft *f, const char *text, size_t len, float *out, char *msg,
                               size_t msglen)
{
	try {
		// one line, as the CLI reads it from its stdin (newline included:
		// a supervised model counts the end-of-sentence token)
		std::string line(text, len);
		line += '\n';
		std::istringstream in(line);
		fasttext::Vector v(f->m.getDimension());
		f->m.getSentenceVector(in, v);
		for (int64_t i = 0; i < v.size(); i++)
			out[i] = v[i];
		return 0;
	} catch (const std::exception &e) {
		set_msg(msg, msglen, e.what());
	} catch (...) {
		set_msg(msg, msglen, "libfasttext failed");
	}
	return -1;
}

extern "C" void vdb_ft_free(vdb_ft *f)
{
	delete f;
}
