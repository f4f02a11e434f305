import ImageKit
import Microdissection
import Testing

@Suite("Path ordering")
struct PathTests {
    static func grid(_ n: Int, seed: UInt64) -> [PixelPoint] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in PixelPoint(row: rng.nextDouble(in: 0, 1000), column: rng.nextDouble(in: 0, 1000)) }
    }

    @Test("Hilbert index visits the 2×2 grid in U order, and order-2 grid cells form one curve")
    func hilbertIndex() {
        #expect(PathOrdering.hilbertIndex(x: 0, y: 0, order: 1) == 0)
        #expect(PathOrdering.hilbertIndex(x: 0, y: 1, order: 1) == 1)
        #expect(PathOrdering.hilbertIndex(x: 1, y: 1, order: 1) == 2)
        #expect(PathOrdering.hilbertIndex(x: 1, y: 0, order: 1) == 3)
        // Consecutive curve positions are grid neighbours.
        var cells = [(UInt64, UInt64)](repeating: (0, 0), count: 16)
        for x in 0..<UInt64(4) {
            for y in 0..<UInt64(4) { cells[Int(PathOrdering.hilbertIndex(x: x, y: y, order: 2))] = (x, y) }
        }
        for i in 1..<16 {
            let d = abs(Int(cells[i].0) - Int(cells[i - 1].0)) + abs(Int(cells[i].1) - Int(cells[i - 1].1))
            #expect(d == 1)
        }
    }

    @Test("Hilbert order is a permutation, and far shorter than its inverse (py-lmd's bug)")
    func hilbertVersusInverse() {
        let pts = Self.grid(500, seed: 1)
        let order = PathOrdering.hilbert(pts, p: 7)
        #expect(order.sorted() == Array(0..<500))
        var inverse = [Int](repeating: 0, count: 500)
        for (position, index) in order.enumerated() { inverse[index] = position }
        let intended = PathOrdering.pathLength(pts, order: order)
        let buggy = PathOrdering.pathLength(pts, order: inverse)
        let identity = PathOrdering.pathLength(pts, order: Array(0..<500))
        #expect(intended < identity / 4)
        #expect(intended < buggy / 4)
    }

    @Test("degenerate inputs (one row, one point, duplicates) do not crash")
    func degenerate() {
        let row = (0..<5).map { PixelPoint(row: 3, column: Double(10 - $0)) }
        #expect(PathOrdering.hilbert(row, p: 3) == [4, 3, 2, 1, 0])
        #expect(PathOrdering.hilbert([PixelPoint(row: 1, column: 1)], p: 7) == [0])
        let same = [PixelPoint](repeating: PixelPoint(row: 2, column: 2), count: 4)
        #expect(PathOrdering.hilbert(same, p: 7) == [0, 1, 2, 3])
        #expect(PathOrdering.greedy(same).sorted() == [0, 1, 2, 3])
        #expect(PathOrdering.twoOpt(same, order: [0, 1, 2, 3]).sorted() == [0, 1, 2, 3])
    }

    @Test("greedy is a nearest-neighbour chain from the first point")
    func greedy() {
        let pts = Fixtures.points([(0, 0), (0, 10), (0, 1), (0, 3), (0, 6)])
        #expect(PathOrdering.greedy(pts) == [0, 2, 3, 4, 1])
        let many = Self.grid(800, seed: 2)
        let order = PathOrdering.greedy(many)
        #expect(order.sorted() == Array(0..<800))
        #expect(order[0] == 0)
    }

    @Test("2-opt never lengthens a path and untangles a crossing")
    func twoOpt() {
        // Visiting a square's corners crosswise: 0 → 2 → 1 → 3 has a crossing.
        let square = Fixtures.points([(0, 0), (0, 10), (10, 0), (10, 10)])
        let improved = PathOrdering.twoOpt(square, order: [0, 3, 1, 2])
        #expect(PathOrdering.pathLength(square, order: improved) == 30)
        for seed in UInt64(3)...6 {
            let pts = Self.grid(400, seed: seed)
            for start in [Array(0..<400), PathOrdering.hilbert(pts, p: 7), PathOrdering.greedy(pts)] {
                let better = PathOrdering.twoOpt(pts, order: start)
                #expect(better.sorted() == Array(0..<400))
                #expect(
                    PathOrdering.pathLength(pts, order: better) <= PathOrdering.pathLength(pts, order: start) + 1e-9)
            }
        }
    }

    @Test("travel is last vertex → next first vertex (lmdcompare's definition)")
    func travel() {
        let a = Fixtures.points([(0, 0), (0, 1), (1, 1)])
        let b = Fixtures.points([(4, 5), (9, 9), (4, 9)])
        #expect(PathOrdering.travel([a, b]) == 5)
        #expect(PathOrdering.travel([a]) == 0)
    }

    @Test("the planner's optimised travel beats cell-set order and rings start near the previous end")
    func plannerTravel() throws {
        let (_, labels) = SyntheticSample.nuclei(width: 400, height: 300, count: 80, seed: 17)
        var present = Set<Int>()
        for v in labels.pixels where v != 0 { present.insert(Int(v)) }
        let shuffled = present.sorted().reversed().map { $0 }
        for method in [LMDConfig.PathOptimization.hilbert, .greedy] {
            var config = LMDConfig()
            config.pathOptimization = method
            let plan = try Fixtures.plan(labels, config, sets: [CellSet(classes: shuffled, well: "A1")])
            let set = plan.sets[0]
            #expect(set.travel < set.unorderedTravel)
            #expect(abs(set.travel * 100 - plan.document.travel) < Double(set.shapes.count) * 2)
        }
        var none = LMDConfig()
        none.pathOptimization = .none
        let plan = try Fixtures.plan(labels, none, sets: [CellSet(classes: shuffled, well: "A1")])
        #expect(plan.sets[0].travel == plan.sets[0].unorderedTravel)
        #expect(
            plan.sets[0].shapes.map { $0.labels[0] }
                == shuffled.filter { l in plan.sets[0].shapes.contains { $0.labels == [l] } })
    }
}
