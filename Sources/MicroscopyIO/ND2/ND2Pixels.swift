#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The pixel layout of one ND2 frame (nd2-format.md §4): rows of `widthBytes`, each holding
/// `width` pixels of `components` interleaved samples of `bytesPerComponent` bytes, then padding.
struct ND2FrameLayout: Sendable, Equatable {
    var width: Int
    var height: Int
    /// Row stride in the file.
    var widthBytes: Int
    /// Interleaved components per pixel (channels × samples).
    var components: Int
    var bytesPerComponent: Int

    /// Bytes of one frame as stored (after inflating): `height × widthBytes`.
    var frameBytes: Int { height &* widthBytes }
    /// Bytes of pixel data in one stored row (without padding).
    var rowBytes: Int { width &* components &* bytesPerComponent }
    /// Bytes of one output plane (one component, no padding).
    var planeBytes: Int { width &* height &* bytesPerComponent }
    var isPadded: Bool { widthBytes != rowBytes }
}

/// Hot loops that turn a stored frame into planes. Sizes were validated when the file was
/// opened, so index math uses wrapping operators (nd2 frames are at most 1 GiB).
enum ND2Pixels {
    /// Moves rows of `rowBytes` from a `stride`-byte grid to a packed grid, in place.
    static func compactRows(_ base: UnsafeMutableRawPointer, rowBytes: Int, stride: Int, height: Int) {
        guard stride != rowBytes else { return }
        var y = 1
        while y < height {
            memmove(base + y &* rowBytes, base + y &* stride, rowBytes)
            y &+= 1
        }
    }

    /// Copies component `component` of every pixel of a stored frame into a packed plane.
    static func extract(
        _ source: UnsafeRawPointer, layout: ND2FrameLayout, component: Int, into destination: UnsafeMutableRawPointer
    ) {
        switch layout.bytesPerComponent {
        case 1: gather(UInt8.self, source, layout, component, destination)
        case 2: gather(UInt16.self, source, layout, component, destination)
        default: gather(UInt32.self, source, layout, component, destination)
        }
    }

    /// Copies every component of a stored frame into its own packed plane, row by row (each
    /// source row is read from cache once per component).
    static func extractAll(
        _ source: UnsafeRawPointer, layout: ND2FrameLayout, into destinations: [UnsafeMutableRawPointer]
    ) {
        switch layout.bytesPerComponent {
        case 1: scatter(UInt8.self, source, layout, destinations)
        case 2: scatter(UInt16.self, source, layout, destinations)
        default: scatter(UInt32.self, source, layout, destinations)
        }
    }

    @inline(__always)
    private static func gather<T: FixedWidthInteger & SIMDScalar>(
        _: T.Type, _ source: UnsafeRawPointer, _ layout: ND2FrameLayout, _ component: Int,
        _ destination: UnsafeMutableRawPointer
    ) {
        let width = layout.width
        let stride = layout.widthBytes
        let n = layout.components
        let size = MemoryLayout<T>.size
        var y = 0
        while y < layout.height {
            let row = source + y &* stride
            let out = destination + y &* width &* size
            gatherRow(T.self, row, out, width, n, component)
            y &+= 1
        }
    }

    @inline(__always)
    private static func scatter<T: FixedWidthInteger & SIMDScalar>(
        _: T.Type, _ source: UnsafeRawPointer, _ layout: ND2FrameLayout, _ destinations: [UnsafeMutableRawPointer]
    ) {
        let width = layout.width
        let stride = layout.widthBytes
        let n = layout.components
        let size = MemoryLayout<T>.size
        var y = 0
        while y < layout.height {
            let row = source + y &* stride
            let outOffset = y &* width &* size
            var k = 0
            while k < n {
                gatherRow(T.self, row, destinations[k] + outOffset, width, n, k)
                k &+= 1
            }
            y &+= 1
        }
    }

    /// One row: `out[x] = row[x * n + k]`, specialised for the common component counts (SIMD
    /// shuffles for 2 and 4, a constant stride for 3).
    @inline(__always)
    private static func gatherRow<T: FixedWidthInteger & SIMDScalar>(
        _: T.Type, _ row: UnsafeRawPointer, _ out: UnsafeMutableRawPointer, _ width: Int, _ n: Int, _ k: Int
    ) {
        switch n {
        case 1: memcpy(out, row, width &* MemoryLayout<T>.size)
        case 2:
            let done = gatherRowSIMD2(T.self, row, out, width, k)
            gatherRow(T.self, row, out, width, stride: 2, k, from: done)
        case 3: gatherRow(T.self, row, out, width, stride: 3, k)
        case 4:
            let done = gatherRowSIMD4(T.self, row, out, width, k)
            gatherRow(T.self, row, out, width, stride: 4, k, from: done)
        default: gatherRow(T.self, row, out, width, stride: n, k)
        }
    }

    /// Two components: 8 pixels per step through SIMD even/odd halves (compiles to shuffles).
    /// Returns how many pixels it did; the scalar loop finishes the row.
    @inline(__always)
    private static func gatherRowSIMD2<T: FixedWidthInteger & SIMDScalar>(
        _: T.Type, _ row: UnsafeRawPointer, _ out: UnsafeMutableRawPointer, _ width: Int, _ k: Int
    ) -> Int {
        let size = MemoryLayout<T>.size
        var x = 0
        while x &+ 8 <= width {
            let v = row.loadUnaligned(fromByteOffset: x &* 2 &* size, as: SIMD16<T>.self)
            out.storeBytes(of: k == 0 ? v.evenHalf : v.oddHalf, toByteOffset: x &* size, as: SIMD8<T>.self)
            x &+= 8
        }
        return x
    }

    /// Four components: 4 pixels per step (even/odd halves twice).
    @inline(__always)
    private static func gatherRowSIMD4<T: FixedWidthInteger & SIMDScalar>(
        _: T.Type, _ row: UnsafeRawPointer, _ out: UnsafeMutableRawPointer, _ width: Int, _ k: Int
    ) -> Int {
        let size = MemoryLayout<T>.size
        var x = 0
        while x &+ 4 <= width {
            let v = row.loadUnaligned(fromByteOffset: x &* 4 &* size, as: SIMD16<T>.self)
            let half = (k & 1) == 0 ? v.evenHalf : v.oddHalf
            out.storeBytes(of: k < 2 ? half.evenHalf : half.oddHalf, toByteOffset: x &* size, as: SIMD4<T>.self)
            x &+= 4
        }
        return x
    }

    @inline(__always)
    private static func gatherRow<T: FixedWidthInteger>(
        _: T.Type, _ row: UnsafeRawPointer, _ out: UnsafeMutableRawPointer, _ width: Int, stride n: Int, _ k: Int,
        from start: Int = 0
    ) {
        let size = MemoryLayout<T>.size
        var x = start
        while x < width {
            let value = row.loadUnaligned(fromByteOffset: (x &* n &+ k) &* size, as: T.self)
            out.storeBytes(of: value, toByteOffset: x &* size, as: T.self)
            x &+= 1
        }
    }

    /// Interleaves packed planes into one stored frame (the writer's inverse of
    /// ``extractAll(_:layout:into:)``); padding bytes are zero.
    static func interleave(
        _ sources: [UnsafeRawPointer], layout: ND2FrameLayout, into destination: UnsafeMutableRawPointer
    ) {
        let size = layout.bytesPerComponent
        let n = layout.components
        let width = layout.width
        memset(destination, 0, layout.frameBytes)
        var y = 0
        while y < layout.height {
            let row = destination + y &* layout.widthBytes
            let inOffset = y &* width &* size
            if n == 1 {
                memcpy(row, sources[0] + inOffset, width &* size)
            } else {
                var k = 0
                while k < n {
                    let src = sources[k] + inOffset
                    switch size {
                    case 1: interleaveRow(UInt8.self, src, row, width, n, k)
                    case 2: interleaveRow(UInt16.self, src, row, width, n, k)
                    default: interleaveRow(UInt32.self, src, row, width, n, k)
                    }
                    k &+= 1
                }
            }
            y &+= 1
        }
    }

    @inline(__always)
    private static func interleaveRow<T: FixedWidthInteger>(
        _: T.Type, _ src: UnsafeRawPointer, _ row: UnsafeMutableRawPointer, _ width: Int, _ n: Int, _ k: Int
    ) {
        let size = MemoryLayout<T>.size
        var x = 0
        while x < width {
            let value = src.loadUnaligned(fromByteOffset: x &* size, as: T.self)
            row.storeBytes(of: value, toByteOffset: (x &* n &+ k) &* size, as: T.self)
            x &+= 1
        }
    }

    /// Builds `count` byte arrays of `bytes` bytes each, letting `fill` write all of them at
    /// once through raw pointers (no zero-filling, no copies).
    static func makeArrays(
        count: Int, bytes: Int, fill: ([UnsafeMutableRawPointer]) -> Void
    ) -> [[UInt8]] {
        var pointers: [UnsafeMutableRawPointer] = []
        pointers.reserveCapacity(count)
        func level(_ i: Int) -> [[UInt8]] {
            if i == count {
                fill(pointers)
                return []
            }
            var inner: [[UInt8]] = []
            let array = [UInt8](unsafeUninitializedCapacity: bytes) { buffer, initialized in
                pointers.append(UnsafeMutableRawPointer(buffer.baseAddress!))
                inner = level(i + 1)
                initialized = bytes
            }
            return [array] + inner
        }
        return level(0)
    }
}
