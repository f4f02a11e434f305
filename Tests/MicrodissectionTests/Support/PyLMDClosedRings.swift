/// A Python script (run with the anchors venv) that produces py-lmd 1.6.1 output with one defect
/// removed — the over-closed ring and its closing chord — so tests can tell that defect apart
/// from real differences. Kept as a string so the test target holds only Swift sources.
enum PyLMDClosedRings {
    static let script = #"""
        #!/usr/bin/env python3
        """py-lmd 1.6.1 with ONE defect removed: the over-closed ring.

        py-lmd smooths the traced contour with a *full* wrap-around convolution, so its polyline is the
        ring followed by `convolution_smoothing - 1` vertices that retrace the start. After RDP the file's
        implicit closing segment runs from the end of that retraced tail back to the first vertex, i.e. a
        chord through the cell, which shaves a sliver off small shapes. This script runs the unmodified
        SegmentationLoader with `_create_poly` patched to keep only the first lap of the same RDP result
        (same vertices, same RDP anchors). Everything else (masks, morphology, tracing, smoothing, RDP,
        merging, rounding) is py-lmd's own code.

        Usage: pylmd_closed_rings.py CASE_DIR OUT.xml     (needs /work/shared/tools on sys.path)
        """
        import os
        import sys

        import numpy as np

        tools = os.environ.get("LMD_TOOLS", os.path.join(os.path.dirname(sys.argv[1].rstrip("/")), "..", "..", "tools"))
        sys.path.insert(0, os.path.abspath(tools))

        import run_pylmd  # noqa: E402  (the reference runner of the test data)
        from lmd.lib import _segmentation, _utils  # noqa: E402
        from rdp import rdp  # noqa: E402
        from scipy.signal import convolve2d  # noqa: E402
        from skimage.segmentation import find_boundaries  # noqa: E402


        def _create_poly_first_lap(in_tuple, smoothing_filter_size=12, rdp_epsilon=0, debug=False):
            offset_map, offset = in_tuple
            bounds = find_boundaries(offset_map, connectivity=1, mode="subpixel", background=0)
            edges = np.array(np.where(bounds == 1)) / 2
            edges = _utils._sort_edges(edges.T)
            n = len(edges)
            smk = np.ones((smoothing_filter_size, 1)) / smoothing_filter_size
            smoothed = convolve2d(edges, smk, mode="full", boundary="wrap")
            mask = rdp(smoothed, epsilon=rdp_epsilon, dist=_utils._point_line_distance_2d, return_mask=True)
            keep = np.nonzero(mask)[0]
            keep = keep[keep < n]  # first lap only: no retraced tail, no closing chord
            return smoothed[keep] + offset


        _segmentation._create_poly = _create_poly_first_lap
        if __name__ == "__main__":
            case_dir, out = sys.argv[1], sys.argv[2]
            run_pylmd.run_case(case_dir, out=out)
        """#
}
