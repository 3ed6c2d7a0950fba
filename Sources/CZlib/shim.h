#include <zlib.h>

// deflateInit2/inflateInit2 are macros Swift cannot call; these wrappers select the gzip
// container (windowBits 15 + 16) and, for inflate, accept gzip or zlib (15 + 32).
static inline int kt_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

static inline int kt_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 32);
}
