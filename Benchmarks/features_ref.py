#!/usr/bin/env python3
"""Reference values for lmdflow's featurization tests (run with the anchors venv python).

Modes (every mode writes raw little-endian arrays plus one JSON file into OUTDIR, which the
Swift tests read back):

  regionprops OUTDIR MASK.tif IMAGE.tif
      nucleus = the ground-truth label mask, cytosol = skimage.segmentation.expand_labels(
      nucleus, 6), cytosol_only = cytosol pixels whose nucleus label differs. Writes
      nucleus.u32, cytosol.u32, image.u16, and props.json with, per region and label,
      skimage.measure.regionprops values and numpy intensity statistics, plus pyama's
      background-corrected total intensity on the cytosol (foreground = both masks).

  background OUTDIR WIDTH HEIGHT SEED
      A synthetic uint16 frame (smooth ramp + noise) and a random blob foreground. Writes
      image.u16, foreground.u8, background.f64 (pyama's estimate in float64, before pyama's
      float32 cast) and tiles.json (tile centres and support medians).

  phenopixel OUTDIR CROPDIR COUNT
      The first COUNT crops of a PhenoPixel masked-crop folder (200x200 RGB PNG, green channel),
      tiled 8 per row into one image; mask = largest 4-connected component of green > 1 (the crops
      have background 1).
      Writes labels.u32, image.u16 and phenopixel.json with PhenoPixel's length, normalised
      median and 35-bin centreline path computed per crop in crop coordinates (section 1.5/1.6
      of docs/phenopixel-pyama-phenocoder.md: np.cov frame, np.polyfit degree 4, foot points from
      np.roots of the distance derivative, stable sort, per-bin maxima).

Written for the tests from the published definitions; nothing here is copied from PhenoPixel
or pyama.
"""
import json
import os
import sys

import numpy as np
from scipy import ndimage as ndi
from scipy.interpolate import InterpolatedUnivariateSpline, RectBivariateSpline


def write(outdir, name, array, dtype):
    np.ascontiguousarray(array, dtype=dtype).tofile(os.path.join(outdir, name))


# ----------------------------------------------------------------------------------------------
# pyama's tiled background, restated from the notes (section 2.1 step 3).

def pyama_axis(length, tile):
    n_div = max(int(np.ceil(length / tile)) + 1, 2)
    edges = np.rint(np.linspace(0, length, 2 * n_div - 1)).astype(int)
    spans = [(edges[i], edges[i + 2]) for i in range(edges.size - 2)]
    centres = (edges[:-2] + edges[2:]) * 0.5
    return spans, centres


def pyama_background(image, foreground, tile=256, dilation=21):
    excluded = ndi.binary_dilation(foreground, structure=np.ones((dilation, dilation), bool))
    masked = np.where(excluded, np.nan, image.astype(np.float64))
    h, w = image.shape
    spans_y, cy = pyama_axis(h, tile)
    spans_x, cx = pyama_axis(w, tile)
    support = np.full((len(spans_y), len(spans_x)), np.nan)
    for j, (y0, y1) in enumerate(spans_y):
        for i, (x0, x1) in enumerate(spans_x):
            block = masked[y0:y1, x0:x1]
            if np.isfinite(block).any():
                support[j, i] = np.nanmedian(block)
    if not np.isfinite(masked).any():
        return None, cx, cy, support
    support[np.isnan(support)] = np.nanmedian(masked)
    xs, ys = np.arange(w), np.arange(h)
    kx, ky = min(3, len(cx) - 1), min(3, len(cy) - 1)
    if len(cx) > 1 and len(cy) > 1:
        surface = RectBivariateSpline(cx, cy, support.T, kx=kx, ky=ky)(xs, ys).T
    elif len(cx) > 1:
        row = InterpolatedUnivariateSpline(cx, support[0], k=kx, ext=3)(xs)
        surface = np.tile(row, (h, 1))
    elif len(cy) > 1:
        col = InterpolatedUnivariateSpline(cy, support[:, 0], k=ky, ext=3)(ys)
        surface = np.tile(col[:, None], (1, w))
    else:
        surface = np.full((h, w), support[0, 0])
    return surface, cx, cy, support


# ----------------------------------------------------------------------------------------------

def read_tiff(path):
    import tifffile
    a = tifffile.imread(path)
    while a.ndim > 2:
        a = a[0]
    return a


def intensity_stats(values):
    v = values.astype(np.float64)
    return {
        "mean": float(np.mean(v)), "median": float(np.median(v)),
        "q25": float(np.quantile(v, 0.25)), "q75": float(np.quantile(v, 0.75)),
        "sum": float(np.sum(v)), "std": float(np.std(v)),
        "min": float(np.min(v)), "max": float(np.max(v)),
    }


def region_rows(labels, image):
    from skimage.measure import regionprops
    rows = {}
    for p in regionprops(labels):
        r0, c0, r1, c1 = p.bbox
        row = {
            "area": float(p.area), "perimeter": float(p.perimeter),
            "centroid_x": float(p.centroid[1]), "centroid_y": float(p.centroid[0]),
            "bbox_x0": c0, "bbox_y0": r0, "bbox_x1": c1, "bbox_y1": r1,
            "eccentricity": float(p.eccentricity), "solidity": float(p.solidity),
            "major_axis": float(p.axis_major_length), "minor_axis": float(p.axis_minor_length),
            "orientation": float(p.orientation), "equivalent_diameter": float(p.equivalent_diameter_area),
            "area_convex": float(p.area_convex),
        }
        row.update(intensity_stats(image[labels == p.label]))
        rows[str(p.label)] = row
    return rows


def mode_regionprops(outdir, mask_path, image_path):
    from skimage.segmentation import expand_labels
    nucleus = read_tiff(mask_path).astype(np.uint32)
    image = read_tiff(image_path).astype(np.uint16)
    cytosol = expand_labels(nucleus, 6).astype(np.uint32)
    cytosol_only = np.where(nucleus == cytosol, 0, cytosol).astype(np.uint32)
    write(outdir, "nucleus.u32", nucleus, "<u4")
    write(outdir, "cytosol.u32", cytosol, "<u4")
    write(outdir, "image.u16", image, "<u2")
    background, _, _, _ = pyama_background(image, (nucleus > 0) | (cytosol > 0))
    bgcorr = {}
    for label in np.unique(cytosol[cytosol > 0]):
        sel = cytosol == label
        bgcorr[str(int(label))] = float(np.sum(image[sel].astype(np.float64) - background[sel]))
    props = {
        "width": int(image.shape[1]), "height": int(image.shape[0]),
        "nucleus": region_rows(nucleus, image), "cytosol": region_rows(cytosol, image),
        "cytosol_only": region_rows(cytosol_only, image), "total_intensity_bgcorr": bgcorr,
    }
    with open(os.path.join(outdir, "props.json"), "w") as f:
        json.dump(props, f)


def mode_background(outdir, width, height, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = 500 + 0.3 * xx + 0.2 * yy + 40 * np.sin(xx / 90.0) * np.cos(yy / 70.0) + rng.normal(0, 15, (height, width))
    image = np.clip(np.rint(image), 0, 65535).astype(np.uint16)
    foreground = np.zeros((height, width), bool)
    for _ in range(max(3, width * height // 20000)):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(4, 15)
        foreground |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    image[foreground] += 800
    surface, cx, cy, support = pyama_background(image, foreground)
    write(outdir, "image.u16", image, "<u2")
    write(outdir, "foreground.u8", foreground, "u1")
    write(outdir, "background.f64", surface, "<f8")
    with open(os.path.join(outdir, "tiles.json"), "w") as f:
        json.dump({"centres_x": cx.tolist(), "centres_y": cy.tolist(), "support": support.ravel().tolist()}, f)


# ----------------------------------------------------------------------------------------------
# PhenoPixel, restated from the notes (sections 1.5 and 1.6).

def phenopixel_cell(mask, grey, degree=4, bins=35):
    ys, xs = np.nonzero(mask)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    cov = np.cov(pts.T)
    w, vecs = np.linalg.eigh(cov)
    major = vecs[:, int(np.argmax(w))]
    if major[0] < 0 or (major[0] == 0 and major[1] < 0):
        major = -major
    minor = np.array([-major[1], major[0]])
    centred = pts - pts.mean(axis=0)
    proj = centred @ major
    length = float(proj.max() - proj.min())
    g = grey[ys, xs].astype(np.float64)
    gmax = g.max()
    normalized_median = float(np.median(g / gmax)) if gmax > 0 else 0.0
    u1, u2 = pts @ major, pts @ minor
    lo, hi = u1.min(), u1.max()
    f = np.polyfit(u1, u2, degree)
    df = np.polyder(f)
    foot = np.empty_like(u1)
    for k in range(u1.size):
        a, b = u1[k], u2[k]
        deriv = np.polyadd(np.array([1.0, -a]), np.polymul(np.polysub(f, [b]), df))
        cands = [a, lo, hi]
        for r in np.roots(deriv):
            if abs(r.imag) < 1e-9 and lo <= r.real <= hi:
                cands.append(r.real)
        cands = np.array(cands)
        dist = (cands - a) ** 2 + (np.polyval(f, cands) - b) ** 2
        foot[k] = cands[int(np.argmin(dist))]
    order = np.argsort(foot, kind="stable")
    width = (hi - lo) / bins
    idx = np.clip(np.floor((foot - lo) / width).astype(int), 0, bins - 1)
    path = [order[0]]
    for b in range(1, bins):
        members = order[idx[order] == b]
        if members.size:
            path.append(members[int(np.argmax(g[members]))])
    path.append(order[-1])
    return {
        "length": length, "normalized_median": normalized_median,
        "path_g": [float(g[i]) for i in path], "path_x": [float(foot[i] - lo) for i in path],
        "aspect_ratio": float(np.sqrt(w.max() / w.min())) if w.min() > 0 else 1.0,
    }


def mode_phenopixel(outdir, cropdir, count):
    from PIL import Image
    names = sorted(os.listdir(cropdir), key=lambda s: int(os.path.splitext(s)[0]))[:count]
    per_row, size = 8, 200
    rows = (len(names) + per_row - 1) // per_row
    labels = np.zeros((rows * size, per_row * size), np.uint32)
    image = np.zeros_like(labels, dtype=np.uint16)
    cells = {}
    for i, name in enumerate(names):
        green = np.asarray(Image.open(os.path.join(cropdir, name)).convert("RGB"))[:, :, 1]
        comp, n = ndi.label(green > 1)
        if n == 0:
            continue
        sizes = ndi.sum(np.ones_like(comp), comp, index=np.arange(1, n + 1))
        mask = comp == (1 + int(np.argmax(sizes)))
        if mask.sum() < 10:
            continue
        y0, x0 = (i // per_row) * size, (i % per_row) * size
        labels[y0:y0 + size, x0:x0 + size][mask] = i + 1
        image[y0:y0 + size, x0:x0 + size] = green
        cells[str(i + 1)] = phenopixel_cell(mask, green)
    write(outdir, "labels.u32", labels, "<u4")
    write(outdir, "image.u16", image, "<u2")
    with open(os.path.join(outdir, "phenopixel.json"), "w") as f:
        json.dump({"width": labels.shape[1], "height": labels.shape[0], "cells": cells}, f)


if __name__ == "__main__":
    mode, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    if mode == "regionprops":
        mode_regionprops(outdir, sys.argv[3], sys.argv[4])
    elif mode == "background":
        mode_background(outdir, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "phenopixel":
        mode_phenopixel(outdir, sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode}")
