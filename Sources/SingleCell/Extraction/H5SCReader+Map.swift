import ImageKit

extension H5SCReader {
    /// Calls `transform` on every cell's stack, in row order, and returns the results in row
    /// order. Stacks are read in batches (HDF5 reads are serialised) and transformed in parallel,
    /// so only one batch of stacks is in memory at a time.
    /// - Parameter threads: worker threads for `transform` (0 = all cores).
    public func mapStacks<T: Sendable>(
        threads: Int = 0, batch: Int = 64, _ transform: @Sendable (UnsafeBufferPointer<Float16>) -> T
    ) throws(SingleCellError) -> [T] {
        let per = layout.valuesPerCell
        let count = cellCount
        var results: [T?] = Array(repeating: nil, count: count)
        var buffer = [Float16](repeating: 0, count: per * max(1, min(batch, count)))
        let workers = threads == 0 ? ParallelFor.defaultWorkers : threads
        var start = 0
        while start < count {
            let end = min(count, start + batch)
            try buffer.withUnsafeMutableBufferPointer { (all) throws(SingleCellError) in
                for row in start..<end {
                    let slice = UnsafeMutableBufferPointer(rebasing: all[((row - start) * per)..<((row - start + 1) * per)])
                    try readStack(row: row, into: slice)
                }
            }
            let first = start
            buffer.withUnsafeBufferPointer { all in
                results.withUnsafeMutableBufferPointer { out in
                    let source = UnsafeSendableBox(all), target = UnsafeSendableBox(out)
                    ParallelFor.run(end - first, workers: workers) { i in
                        let slice = UnsafeBufferPointer(rebasing: source.value[(i * per)..<((i + 1) * per)])
                        target.value[first + i] = transform(slice)
                    }
                }
            }
            start = end
        }
        return results.map { $0! }
    }
}
