// libtiff. TIFFGetField/TIFFSetField are C variadics, which Swift cannot call; the typed
// static inline wrappers below cover the tag types lmdflow uses.
#ifndef LMDFLOW_CTIFF_SHIM_H
#define LMDFLOW_CTIFF_SHIM_H
#include <stdint.h>
#include <tiffio.h>

static inline int lmdflow_tiff_set_u16(TIFF *tif, uint32_t tag, uint16_t value) { return TIFFSetField(tif, tag, value); }
static inline int lmdflow_tiff_set_u32(TIFF *tif, uint32_t tag, uint32_t value) { return TIFFSetField(tif, tag, value); }
static inline int lmdflow_tiff_set_double(TIFF *tif, uint32_t tag, double value) { return TIFFSetField(tif, tag, value); }
static inline int lmdflow_tiff_set_string(TIFF *tif, uint32_t tag, const char *value) { return TIFFSetField(tif, tag, value); }
static inline int lmdflow_tiff_get_u16(TIFF *tif, uint32_t tag, uint16_t *value) { return TIFFGetField(tif, tag, value); }
static inline int lmdflow_tiff_get_u32(TIFF *tif, uint32_t tag, uint32_t *value) { return TIFFGetField(tif, tag, value); }
static inline int lmdflow_tiff_get_u64(TIFF *tif, uint32_t tag, uint64_t *value) { return TIFFGetField(tif, tag, value); }
static inline int lmdflow_tiff_get_float(TIFF *tif, uint32_t tag, float *value) { return TIFFGetField(tif, tag, value); }
static inline int lmdflow_tiff_get_string(TIFF *tif, uint32_t tag, const char **value) { return TIFFGetField(tif, tag, value); }
static inline int lmdflow_tiff_get_defaulted_u16(TIFF *tif, uint32_t tag, uint16_t *value) { return TIFFGetFieldDefaulted(tif, tag, value); }
// Added for the TIFF reader and the tiled OME-TIFF writer.
static inline int lmdflow_tiff_set_int(TIFF *tif, uint32_t tag, int value) { return TIFFSetField(tif, tag, value); }
static inline int lmdflow_tiff_get_defaulted_u32(TIFF *tif, uint32_t tag, uint32_t *value) { return TIFFGetFieldDefaulted(tif, tag, value); }
static inline int lmdflow_tiff_get_defaulted_float(TIFF *tif, uint32_t tag, float *value) { return TIFFGetFieldDefaulted(tif, tag, value); }
/* SubIFDs: a uint16 count and an array of uint64 offsets (libtiff owns the array it returns). Setting the tag
   on a directory being written makes the next `count` directories written its SubIFDs. */
static inline int lmdflow_tiff_get_subifds(TIFF *tif, uint16_t *count, const uint64_t **offsets) { return TIFFGetField(tif, TIFFTAG_SUBIFD, count, offsets); }
static inline int lmdflow_tiff_set_subifds(TIFF *tif, uint16_t count, const uint64_t *offsets) { return TIFFSetField(tif, TIFFTAG_SUBIFD, count, offsets); }
/* ExtraSamples: a uint16 count and an array of uint16 kinds. */
static inline int lmdflow_tiff_get_extrasamples(TIFF *tif, uint16_t *count, const uint16_t **kinds) { return TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, count, kinds); }
static inline int lmdflow_tiff_set_extrasamples(TIFF *tif, uint16_t count, const uint16_t *kinds) { return TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, count, kinds); }
#endif
