// GEOS C API, reentrant functions only (one GEOSContextHandle_t per worker).
#ifndef LMDFLOW_CGEOS_SHIM_H
#define LMDFLOW_CGEOS_SHIM_H
#define GEOS_USE_ONLY_R_API
#include <geos_c.h>
#endif
