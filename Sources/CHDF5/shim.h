// libhdf5 (Debian's serial build, libhdf5-dev): the HDF5 C API for SingleCell's .h5sc files.
// Type and property-list ids such as H5T_NATIVE_UINT64 are macros over library globals that
// Swift cannot import; the inline functions below hand them over. The serial library is not
// thread-safe: callers serialise every H5* call (SingleCell's H5 wrapper holds one lock).
#ifndef LMDFLOW_CHDF5_SHIM_H
#define LMDFLOW_CHDF5_SHIM_H
#include <hdf5.h>
#include <H5Zpublic.h>
#include <string.h>

static inline hid_t lmd_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t lmd_h5s_all(void) { return H5S_ALL; }
static inline hid_t lmd_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t lmd_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t lmd_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t lmd_h5p_dataset_xfer(void) { return H5P_DATASET_XFER; }
static inline hid_t lmd_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t lmd_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t lmd_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t lmd_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t lmd_h5t_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t lmd_h5t_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t lmd_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t lmd_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t lmd_h5t_ieee_f16le(void) {
    // HDF5 1.10 has no predefined half type: IEEE binary16 built from a float copy, as h5py does.
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}
static inline hid_t lmd_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t lmd_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t lmd_h5t_std_u64le(void) { return H5T_STD_U64LE; }
static inline hid_t lmd_h5t_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t lmd_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t lmd_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline size_t lmd_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned lmd_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned lmd_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned lmd_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned lmd_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline hid_t lmd_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t lmd_h5t_native_uint16(void) { return H5T_NATIVE_UINT16; }

/// First and last description on the calling thread's HDF5 error stack (the API call that failed
/// and the innermost cause, e.g. "unable to open file" / "file signature not found").
typedef struct {
    char first[256];
    char last[256];
    unsigned count;
} lmd_h5_error_summary;

static inline herr_t lmd_h5_error_walk_(unsigned n, const H5E_error2_t *err, void *data) {
    (void)n;
    lmd_h5_error_summary *summary = (lmd_h5_error_summary *)data;
    const char *desc = (err != NULL && err->desc != NULL && err->desc[0] != '\0') ? err->desc
                     : (err != NULL && err->func_name != NULL ? err->func_name : "");
    if (summary->count == 0) {
        strncpy(summary->first, desc, sizeof(summary->first) - 1);
        summary->first[sizeof(summary->first) - 1] = '\0';
    }
    strncpy(summary->last, desc, sizeof(summary->last) - 1);
    summary->last[sizeof(summary->last) - 1] = '\0';
    summary->count += 1;
    return 0;
}

/// Fills `summary` from the calling thread's default error stack, then clears the stack.
static inline void lmd_h5_take_error(lmd_h5_error_summary *summary) {
    summary->first[0] = '\0';
    summary->last[0] = '\0';
    summary->count = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, lmd_h5_error_walk_, summary);
    H5Eclear2(H5E_DEFAULT);
}
/// Silences HDF5's automatic error printing to stderr (errors are reported as Swift errors).
static inline void lmd_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
