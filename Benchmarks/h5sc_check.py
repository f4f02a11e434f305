#!/usr/bin/env python3
"""Check an scPortrait single_cells.h5sc file with h5py and anndata, and dump its layout.

Usage: h5sc_check.py FILE [FILE ...] [--details] [--data]

Prints the layout in the format of scPortrait's reference dump (run/outputs/*/h5sc_layout.txt):
every group and dataset in h5py visit order with shape, dtype, chunks, compression and
attributes, then the first cell ids and the per-channel min/max/mean of cell 0. Without options
the output is exactly that format, so the dump of scPortrait's own file equals its
h5sc_layout.txt.

--details adds, per object, the HDF5 type details h5py exposes (string character set and
padding, float bit fields, enum members, attribute dataspaces) and the filter pipeline
(id, flags, client data, name), and checks that anndata.read_h5ad loads the file (shape, obs
cell ids, var table, obsm images).
--data adds the SHA-256 of all images as h5py decodes them (every chunk through h5py's own
LZF/deflate filters), read row block by row block.

With several files, each dump is preceded by a line "### FILE" (one process, so anndata is
imported once). Exit status 0 when every check passes, 1 otherwise (the reason on stderr).

Run with the anchors venv: /root/.cache/lmdflow-anchors/bin/python Benchmarks/h5sc_check.py FILE
"""
import hashlib
import sys
import warnings

import h5py
import numpy as np


def fmt_value(value):
    """Attribute values as the reference dump shows them: string arrays as lists of str."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return repr([v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()])
    if isinstance(value, bytes):
        return repr(value.decode())
    return repr(value)


CSET = {h5py.h5t.CSET_ASCII: "ascii", h5py.h5t.CSET_UTF8: "utf8"}
STRPAD = {h5py.h5t.STR_NULLTERM: "nullterm", h5py.h5t.STR_NULLPAD: "nullpad", h5py.h5t.STR_SPACEPAD: "spacepad"}


def type_details(tid):
    cls = tid.get_class()
    if cls == h5py.h5t.STRING:
        vlen = tid.is_variable_str()
        return (f"string vlen={vlen} size={tid.get_size()} cset={CSET.get(tid.get_cset(), '?')} "
                f"strpad={STRPAD.get(tid.get_strpad(), '?')}")
    if cls == h5py.h5t.FLOAT:
        order = "le" if tid.get_order() == h5py.h5t.ORDER_LE else "be"
        return (f"float size={tid.get_size()} order={order} fields={tid.get_fields()} ebias={tid.get_ebias()} "
                f"precision={tid.get_precision()}")
    if cls == h5py.h5t.INTEGER:
        order = "le" if tid.get_order() == h5py.h5t.ORDER_LE else "be"
        signed = tid.get_sign() == h5py.h5t.SGN_2
        return f"int size={tid.get_size()} signed={signed} order={order}"
    if cls == h5py.h5t.ENUM:
        base = tid.get_super()
        members = [(tid.get_member_name(i).decode(), tid.get_member_value(i)) for i in range(tid.get_nmembers())]
        return f"enum base=int{base.get_size() * 8} signed={base.get_sign() == h5py.h5t.SGN_2} members={members}"
    return f"class={cls} size={tid.get_size()}"


def space_kind(space):
    kind = space.get_simple_extent_type()
    return {h5py.h5s.SCALAR: "scalar", h5py.h5s.SIMPLE: "simple", h5py.h5s.NULL: "null"}.get(kind, str(kind))


def dump(f, details):
    lines = []

    def attrs(obj, prefix):
        for key in obj.attrs:
            lines.append(f"{prefix}@{key} = {fmt_value(obj.attrs[key])}")
            if details:
                aid = obj.attrs.get_id(key)
                lines.append(f"{prefix}  ~ {type_details(aid.get_type())} space={space_kind(aid.get_space())}")

    attrs(f, "ROOT ")

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            lines.append(f"GROUP   /{name}")
        else:
            lines.append(f"DATASET /{name} shape={obj.shape} dtype={obj.dtype} chunks={obj.chunks} "
                         f"compression={obj.compression}")
            if details:
                plist = obj.id.get_create_plist()
                layout = {h5py.h5d.CONTIGUOUS: "contiguous", h5py.h5d.CHUNKED: "chunked",
                          h5py.h5d.COMPACT: "compact"}.get(plist.get_layout(), "?")
                filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
                lines.append(f"    ~ {type_details(obj.id.get_type())} space={space_kind(obj.id.get_space())} "
                             f"layout={layout} filters={filters}")
        attrs(obj, "    ")

    f.visititems(visit)
    ids = f["obs/scportrait_cell_id"][:]
    lines.append(f"first 10 cell ids in obs/scportrait_cell_id: {[int(i) for i in ids[:10]]}")
    cell = f["obsm/single_cell_images"][0].astype(np.float64)
    stats = "; ".join(f"{c}:{cell[c].min():.3f}/{cell[c].max():.3f}/{cell[c].mean():.3f}" for c in range(cell.shape[0]))
    lines.append(f"cell 0 per-channel min/max/mean: {stats}")
    return lines


def check_anndata(path, f):
    import anndata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = anndata.read_h5ad(path)
    images = f["obsm/single_cell_images"]
    n = images.shape[0]
    problems = []
    if adata.n_obs != n:
        problems.append(f"anndata n_obs {adata.n_obs} != {n}")
    if adata.n_vars != images.shape[1]:
        problems.append(f"anndata n_vars {adata.n_vars} != {images.shape[1]}")
    if "single_cell_images" not in adata.obsm or adata.obsm["single_cell_images"].shape != images.shape:
        problems.append("anndata obsm['single_cell_images'] missing or of the wrong shape")
    ids = np.asarray(adata.obs["scportrait_cell_id"])
    if ids.dtype != np.uint64 or not np.array_equal(ids, f["obs/scportrait_cell_id"][:]):
        problems.append(f"anndata obs['scportrait_cell_id'] ({ids.dtype}) differs from the HDF5 dataset")
    channels = [str(c) for c in adata.var["channels"]]
    mapping = [str(c) for c in adata.var["channel_mapping"]]
    lines = [
        f"ANNDATA n_obs={adata.n_obs} n_vars={adata.n_vars} obsm={list(adata.obsm.keys())} "
        f"images={adata.obsm['single_cell_images'].shape} {adata.obsm['single_cell_images'].dtype}",
        f"ANNDATA var.index={list(adata.var.index)} channels={channels} channel_mapping={mapping} "
        f"mapping.dtype={adata.var['channel_mapping'].dtype}",
        f"ANNDATA obs.index[:3]={list(adata.obs.index[:3])} uns={sorted(adata.uns['single_cell_images'].keys())}",
    ]
    return lines, problems


def data_hash(f):
    images = f["obsm/single_cell_images"]
    digest = hashlib.sha256()
    for start in range(0, images.shape[0], 256):
        block = np.ascontiguousarray(images[start:start + 256], dtype="<f2")
        digest.update(block.tobytes())
    return f"IMAGES sha256={digest.hexdigest()} (decoded by h5py {h5py.version.version})"


def main(argv):
    paths = [a for a in argv[1:] if not a.startswith("--")]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    details = "--details" in argv
    status = 0
    for path in paths:
        with h5py.File(path, "r") as f:
            lines = dump(f, details)
            problems = []
            if details:
                more, problems = check_anndata(path, f)
                lines += more
            if "--data" in argv:
                lines.append(data_hash(f))
        if len(paths) > 1:
            print(f"### {path}")
        print("\n".join(lines))
        if problems:
            print(f"{path}: " + "\n".join(problems), file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
