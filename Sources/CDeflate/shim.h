// libdeflate: fast whole-buffer zlib/deflate (a dependency of libtiff-dev).
#ifndef LMDFLOW_CDEFLATE_SHIM_H
#define LMDFLOW_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
