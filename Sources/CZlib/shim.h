// zlib (deflate/inflate for ND2 frames and TIFF strips).
#ifndef LMDFLOW_CZLIB_SHIM_H
#define LMDFLOW_CZLIB_SHIM_H
#include <zlib.h>
#endif
