import Foundation

/// What an ND2 file says beyond the format-neutral ``AcquisitionInfo``: the file's own channel
/// list (an RGB channel is one entry there), storage details, the Z stack's step and home
/// position, XY point names, free-text info and the per-frame stage arrays the microscope
/// recorded.
public struct ND2Metadata: Sendable, Codable, Equatable {
    /// File version from the header, e.g. `"3.0"`.
    public var version: String
    /// Bytes per image row in the file (`uiWidthBytes`), padding included.
    public var widthBytes: Int
    /// Interleaved components per pixel (`uiComp`) = channels × samples per channel.
    public var componentCount: Int
    /// Samples per channel: 3 for RGB, otherwise 1.
    public var samplesPerChannel: Int
    /// Significant bits per component (`uiBpcSignificant`), e.g. 12 in 16-bit words.
    public var significantBits: Int
    /// Frame storage: `"none"` or `"zlib"`.
    public var compression: String
    /// The channels as the file lists them (`sPicturePlanes`); an RGB channel is one entry.
    /// Names, colours and wavelengths follow the `nd2` package's reading.
    public var fileChannels: [ChannelInfo]
    /// Z step of the Z loop in µm, if there is one.
    public var zStepUm: Double?
    /// Index of the Z loop's home plane (the `nd2` package's `homeIndex`), if there is a Z loop.
    public var zHomeIndex: Int?
    /// Names of the XY loop's points, in loop order (empty without an XY loop).
    public var positionNames: [String]
    /// Acquisition start of frame 0 as a Julian day number (UTC), if recorded.
    public var acquisitionStartJDN: Double?
    /// Objective magnification (from the metadata, or parsed from the objective name or the
    /// optics text when the metadata says -1), if known.
    public var objectiveMagnification: Double?
    /// Objective numerical aperture, if known.
    public var objectiveNA: Double?
    /// `ImageTextInfoLV!` items under the `nd2` package's keys (`description`, `capturing`,
    /// `optics`, `date`, …); empty when the chunk is absent.
    public var textInfo: [String: String]
    /// Per-frame stage positions recorded by the microscope (`CustomData|X!`, `|Y!`, `|Z!`),
    /// one `[x, y, z]` (or `[x, y]` without a Z array) per frame, or nil when absent. Unlike
    /// ``FrameInfo/stageUm`` (which follows the `nd2` package: XY points, one z per stack),
    /// these vary per Z plane.
    public var measuredStageUm: [[Double]]?

    /// Creates a description (the reader fills it; public for tests and tools).
    public init(
        version: String, widthBytes: Int, componentCount: Int, samplesPerChannel: Int, significantBits: Int,
        compression: String, fileChannels: [ChannelInfo], zStepUm: Double? = nil, zHomeIndex: Int? = nil,
        positionNames: [String] = [], acquisitionStartJDN: Double? = nil, objectiveMagnification: Double? = nil,
        objectiveNA: Double? = nil, textInfo: [String: String] = [:], measuredStageUm: [[Double]]? = nil
    ) {
        self.version = version
        self.widthBytes = widthBytes
        self.componentCount = componentCount
        self.samplesPerChannel = samplesPerChannel
        self.significantBits = significantBits
        self.compression = compression
        self.fileChannels = fileChannels
        self.zStepUm = zStepUm
        self.zHomeIndex = zHomeIndex
        self.positionNames = positionNames
        self.acquisitionStartJDN = acquisitionStartJDN
        self.objectiveMagnification = objectiveMagnification
        self.objectiveNA = objectiveNA
        self.textInfo = textInfo
        self.measuredStageUm = measuredStageUm
    }
}

// MARK: - Image attributes

/// `SLxImageAttributes` (nd2-format.md §4), validated.
struct ND2Attributes {
    var width: Int
    var height: Int
    var widthBytes: Int
    var components: Int
    var bitsInMemory: Int
    var bitsSignificant: Int
    var sequenceCount: Int
    var tileWidth: Int?
    var tileHeight: Int?
    /// 0 lossless (zlib), 1 lossy, 2 none.
    var compression: Int

    /// Largest width or height accepted (NIS stitched images reach ~100k px; beyond that the
    /// tiled layout, which is unsupported, would be used anyway).
    static let maxSide = 1 << 20
    /// Largest component count accepted.
    static let maxComponents = 1024

    /// Reads the fields from a decoded `ImageAttributesLV!` payload; `fail` builds the error
    /// for a field (it names the chunk and offset).
    init(_ top: LVValue, fail: (String) -> MicroscopyIOError) throws(MicroscopyIOError) {
        let attributes = top["SLxImageAttributes"] ?? top
        func required(_ name: String, _ range: ClosedRange<Int>) throws(MicroscopyIOError) -> Int {
            guard let value = attributes[name] else {
                throw fail("\(name) is missing (expected an integer in \(range.lowerBound)...\(range.upperBound))")
            }
            guard let int = value.intValue, range.contains(int) else {
                throw fail(
                    "\(name) is \(describe(value)) (expected an integer in \(range.lowerBound)...\(range.upperBound))")
            }
            return int
        }
        width = try required("uiWidth", 1...Self.maxSide)
        height = try required("uiHeight", 1...Self.maxSide)
        components = try required("uiComp", 1...Self.maxComponents)
        bitsInMemory = try required("uiBpcInMemory", 1...64)
        guard [8, 16, 32].contains(bitsInMemory) else {
            throw fail("uiBpcInMemory is \(bitsInMemory) (expected 8, 16 or 32 bits per component)")
        }
        let rowBytes = width * components * (bitsInMemory / 8)
        widthBytes = try required("uiWidthBytes", 1...Int(Int32.max))
        guard widthBytes >= rowBytes else {
            throw fail(
                "uiWidthBytes is \(widthBytes), less than one row of pixels "
                    + "(\(width) px × \(components) components × \(bitsInMemory / 8) bytes = \(rowBytes))")
        }
        guard widthBytes % (bitsInMemory / 8) == 0 else {
            throw fail("uiWidthBytes \(widthBytes) is not a multiple of the \(bitsInMemory / 8)-byte component")
        }
        bitsSignificant = attributes["uiBpcSignificant"]?.intValue ?? bitsInMemory
        sequenceCount = try required("uiSequenceCount", 0...Int(Int32.max))
        tileWidth = attributes["uiTileWidth"]?.intValue
        tileHeight = attributes["uiTileHeight"]?.intValue
        compression = attributes["eCompression"]?.intValue ?? 2
    }

    var bytesPerComponent: Int { bitsInMemory / 8 }

    /// Whether the frame is tiled (tile size set and smaller than the image); nd2 treats a
    /// tile equal to the image (or 0) as untiled.
    var isTiled: Bool {
        func tiled(_ tile: Int?, _ side: Int) -> Bool {
            guard let tile, tile > 0 else { return false }
            return tile != side
        }
        return tiled(tileWidth, width) || tiled(tileHeight, height)
    }
}

/// A short rendering of an LV value for messages.
func describe(_ value: LVValue) -> String {
    switch value {
    case .bool(let v): "\(v)"
    case .int(let v): "\(v)"
    case .uint(let v): "\(v)"
    case .double(let v): "\(v)"
    case .string(let v): "\"\(v.prefix(40))\""
    case .bytes(let v): "a \(v.count)-byte array"
    case .level(let v): "a level of \(v.count) items"
    }
}

// MARK: - Channels and global picture metadata

/// What `SLxPictureMetadata` (`ImageMetadataSeqLV|0!`) tells.
struct ND2PictureMetadata {
    /// One per ND2 channel (plane); RGB channels are one entry.
    var channels: [ChannelInfo] = []
    /// `uiCompCount` per channel.
    var componentsPerChannel: [Int] = []
    var calibrationUm: Double?
    var objectiveName: String?
    var objectiveMagnification: Double?
    var objectiveNA: Double?
    var stageUm: [Double]?
    var timeMs: Double?
    var startJDN: Double?

    /// nd2's stand-in wavelengths for the three components of an RGB channel.
    static let rgbWavelengths: [Double] = [420, 515, 590]

    init() {}

    init(_ top: LVValue, fail: (String) -> MicroscopyIOError) throws(MicroscopyIOError) {
        let meta = top["SLxPictureMetadata"] ?? top
        let planes = meta["sPicturePlanes"]
        let list = planes?["sPlaneNew"] ?? planes?["sPlane"]
        let items = list?.items ?? []
        if let declared = planes?["uiCount"]?.intValue, declared != items.count {
            throw fail(
                "sPicturePlanes.uiCount is \(declared) but \(items.count) channel descriptions follow "
                    + "(expected one sPlaneNew entry per channel)")
        }
        for (i, plane) in items.enumerated() {
            let k = plane["uiSampleIndex"]?.intValue.flatMap { $0 > 0 ? $0 : nil } ?? i
            let components = plane["uiCompCount"]?.intValue ?? 1
            let (excitation, emission) = Self.wavelengths(plane, index: i, components: components)
            channels.append(
                ChannelInfo(
                    name: plane["sDescription"]?.stringValue ?? "",
                    index: k,
                    color: plane["uiColor"]?.unsignedValue.map(Self.hexColor),
                    emissionNm: emission,
                    excitationNm: excitation))
            componentsPerChannel.append(components)
        }
        if let calibration = meta["dCalibration"]?.doubleValue, calibration > 0, calibration.isFinite,
            meta["bCalibrated"]?.boolValue ?? true
        {
            calibrationUm = calibration
        }
        let objectiveSetting = meta[path: "sPicturePlanes", "sSampleSetting"]?.items.first?["pObjectiveSetting"]
        objectiveName =
            nonEmpty(meta["wsObjectiveName"]?.stringValue)
            ?? nonEmpty(objectiveSetting?["wsObjectiveName"]?.stringValue)
        if let mag = meta["dObjectiveMag"]?.doubleValue, mag > 0 {
            objectiveMagnification = mag
        }
        if let na = meta["dObjectiveNA"]?.doubleValue, na > 0 {
            objectiveNA = na
        }
        if let x = meta["dXPos"]?.doubleValue, let y = meta["dYPos"]?.doubleValue {
            stageUm = [x, y, meta["dZPos"]?.doubleValue ?? 0]
        }
        timeMs = meta["dTimeMSec"]?.doubleValue
        if let jdn = meta["dTimeAbsolute"]?.doubleValue, jdn >= 1 {
            startJDN = jdn
        }
    }

    /// `0x00BBGGRR` → `#rrggbb`.
    static func hexColor(_ abgr: UInt64) -> String {
        let r = abgr & 0xFF
        let g = (abgr >> 8) & 0xFF
        let b = (abgr >> 16) & 0xFF
        func two(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return s.count == 1 ? "0" + s : s
        }
        return "#" + two(r) + two(g) + two(b)
    }

    /// Excitation and emission in nm, derived as the `nd2` package does: the fluorescent
    /// probe's spectra first, then the first filter's; RGB channels get fixed stand-ins.
    static func wavelengths(_ plane: LVValue, index: Int, components: Int) -> (Double?, Double?) {
        let probe = plane["pFluorescentProbe"]
        let filter = plane[path: "pFilterPath", "m_pFilter"]?.items.first
        var excitation = spectrumPeak(probe?["m_ExcitationSpectrum"])
        if excitation == 0, let filter {
            let spectrum = filter["m_ExcitationSpectrum"]
            let points = spectrum?["pPoint"]?.children ?? []
            if (spectrum?["uiCount"]?.intValue ?? 0) > 1, points.allSatisfy({ $0.value["eType"]?.intValue == 4 }) {
                excitation = points.last { $0.name == "Point\(index)" }?.value["dWavelength"]?.doubleValue ?? 0
            }
            if excitation == 0 {
                excitation = spectrumPeak(spectrum)
            }
        }
        if excitation == 0, components == 3, index < rgbWavelengths.count {
            excitation = rgbWavelengths[index]
        }
        var emission = 0.0
        if components == 3 {
            emission = index < rgbWavelengths.count ? rgbWavelengths[index] : 0
        } else {
            emission = spectrumPeak(probe?["m_EmissionSpectrum"])
            if emission == 0, let filter {
                emission = spectrumPeak(filter["m_EmissionSpectrum"])
            }
        }
        return (excitation != 0 ? excitation : nil, emission != 0 ? emission : nil)
    }

    /// Wavelength of the point with the highest transmission (the first on ties); 0 if none.
    static func spectrumPeak(_ spectrum: LVValue?) -> Double {
        guard let points = spectrum?["pPoint"]?.items, !points.isEmpty else { return 0 }
        var best = points[0]
        for point in points.dropFirst()
        where (point["dTValue"]?.doubleValue ?? 0) > (best["dTValue"]?.doubleValue ?? 0) {
            best = point
        }
        return best["dWavelength"]?.doubleValue ?? 0
    }
}

func nonEmpty(_ s: String?) -> String? {
    guard let s, !s.isEmpty else { return nil }
    return s
}

// MARK: - Experiment loops

/// One loop of `SLxExperiment`, with what the frame metadata needs.
struct ND2Loop {
    /// nd2's type number (1 time, 2 XY, 4 Z, 6 spectral, 7 custom, 8 ND time …).
    var kind: Int
    var count: Int
    var nestingLevel: Int = 0
    /// XY loop: points (x, y, z) in µm, and whether z is set per point.
    var points: [[Double]] = []
    var pointNames: [String] = []
    var settingZ = false
    /// Z loop: step (µm) and home index.
    var zStep: Double = 0
    var zHome: Int = 0

    var typeName: String {
        switch kind {
        case 1: "TimeLoop"
        case 2: "XYPosLoop"
        case 3: "XYDiscrLoop"
        case 4: "ZStackLoop"
        case 5: "PolarLoop"
        case 6: "SpectLoop"
        case 7: "CustomLoop"
        case 8: "NETimeLoop"
        case 9: "ManTimeLoop"
        case 10: "ZStackLoopAccurate"
        default: "Loop\(kind)"
        }
    }

    /// Axis letter as the `nd2` package names it (`T`, `P`, `Z`; `U` for custom loops).
    var axis: String {
        switch kind {
        case 1, 8, 9: "T"
        case 2, 3: "P"
        case 4, 10: "Z"
        default: "U"
        }
    }

    /// Walks the `SLxExperiment` chain outer → inner (nd2-format.md §5.2), keeping loops as the
    /// `nd2` package does: empty loops end the chain, spectral loops are not frame loops, and a
    /// repeated loop of the same kind at the same level keeps the larger count.
    static func load(_ experiment: LVValue) -> [ND2Loop] {
        var loops: [ND2Loop] = []
        walk(experiment, level: 0, depth: 0, into: &loops)
        return loops
    }

    private static func walk(_ source: LVValue, level: Int, depth: Int, into loops: inout [ND2Loop]) {
        guard depth < LVDecoder.maxDepth else { return }
        // Some files wrap a level's experiment in an SLxExperiment entry.
        let experiment = source["eType"] == nil ? (source["SLxExperiment"] ?? source) : source
        guard var loop = single(experiment), loop.count > 0 else { return }
        var level = level
        if loop.kind == 6 {
            level -= 1
        } else if loops.isEmpty || loops[loops.count - 1].nestingLevel < level {
            loop.nestingLevel = level
            loops.append(loop)
        } else if loops[loops.count - 1].nestingLevel == level, loops[loops.count - 1].kind == loop.kind {
            loop.nestingLevel = level
            if loops[loops.count - 1].count < loop.count { loops[loops.count - 1] = loop }
        }
        for next in experiment["ppNextLevelEx"]?.items ?? [] {
            walk(next, level: level + 1, depth: depth + 1, into: &loops)
        }
    }

    /// One loop's kind and count (nil when the entry has no parameters).
    private static func single(_ experiment: LVValue) -> ND2Loop? {
        guard let kind = experiment["eType"]?.intValue, var pars = experiment["uLoopPars"], !pars.children.isEmpty
        else { return nil }
        if pars.children.count == 1, pars.children[0].name == "i0000000000" {
            pars = pars.children[0].value  // v2 files wrap the parameters in one more level
        }
        let uiCount = max(0, pars["uiCount"]?.intValue ?? 0)
        var loop = ND2Loop(kind: kind, count: uiCount)
        switch kind {
        case 2:
            loop.settingZ = pars["bUseZ"]?.boolValue ?? false
            let relative = pars["bRelativeXY"]?.boolValue ?? false
            let refX = relative ? pars["dReferenceX"]?.doubleValue ?? 0 : 0
            let refY = relative ? pars["dReferenceY"]?.doubleValue ?? 0 : 0
            var raw: [(x: Double, y: Double, z: Double, name: String)] = []
            if let points = pars["Points"] {
                for point in points.items {
                    raw.append(
                        (
                            point["dPosX"]?.doubleValue ?? 0, point["dPosY"]?.doubleValue ?? 0,
                            point["dPosZ"]?.doubleValue ?? 0,
                            nonEmpty(point["dPosName"]?.stringValue) ?? point["pPosName"]?.stringValue ?? ""
                        ))
                }
            } else if let xs = pars["dPosX"]?.items, let ys = pars["dPosY"]?.items {
                let zs = pars["dPosZ"]?.items ?? []
                for i in 0..<min(xs.count, ys.count) {
                    raw.append(
                        (
                            xs[i].doubleValue ?? 0, ys[i].doubleValue ?? 0,
                            i < zs.count ? zs[i].doubleValue ?? 0 : 0, ""
                        ))
                }
            }
            if let valid = flags(experiment["pItemValid"]), !valid.isEmpty {
                raw = zip(raw, valid).filter { $0.1 }.map(\.0)
            }
            if !raw.isEmpty || pars["Points"] != nil {
                loop.points = raw.map { [refX + $0.x, refY + $0.y, loop.settingZ ? $0.z : 0] }
                loop.pointNames = raw.map(\.name)
                loop.count = raw.count
            }
        case 4, 10:
            let low = pars["dZLow"]?.doubleValue ?? 0
            let high = pars["dZHigh"]?.doubleValue ?? 0
            let home = pars["dZHome"]?.doubleValue ?? 0
            var step = pars["dZStep"]?.doubleValue ?? 0
            if step == 0, uiCount > 1 { step = abs(high - low) / Double(uiCount - 1) }
            loop.zStep = step
            loop.zHome = homeIndex(
                inverted: pars["bZInverted"]?.boolValue ?? false, count: uiCount,
                type: pars["iType"]?.intValue ?? 0, home: home, low: low, high: high, step: step)
        case 6:
            loop.count = pars[path: "pPlanes", "uiCount"]?.intValue ?? uiCount
        case 8:
            let periods = pars["pPeriod"]?.items ?? []
            let valid = flags(pars["pPeriodValid"]) ?? Array(repeating: true, count: periods.count)
            loop.count = zip(periods, valid).reduce(0) { sum, pair in
                pair.1 ? sum + max(0, pair.0["uiCount"]?.intValue ?? 0) : sum
            }
        default:
            break
        }
        return loop
    }

    /// A flag list: a byte array (one byte per item) or a level of bools.
    private static func flags(_ value: LVValue?) -> [Bool]? {
        switch value {
        case .bytes(let bytes)?: bytes.map { $0 != 0 }
        case .level(let items)?: items.map { $0.value.boolValue ?? false }
        default: nil
        }
    }

    /// The Z stack's home plane index, computed as the `nd2` package does.
    static func homeIndex(
        inverted: Bool, count: Int, type: Int, home: Double, low: Double, high: Double, step: Double
    ) -> Int {
        guard count > 0 else { return 0 }
        let fromLow = abs(low - home)
        let fromHigh = abs(high - home)
        let range: Double
        switch type {
        case 2, 3: range = inverted ? fromHigh : fromLow
        case 6, 7: range = inverted ? fromLow : fromHigh
        default: return (count - 1) / 2
        }
        let index: Double
        if step <= 0 {
            let span = abs(high - low)
            index = span > 0 ? (Double(count - 1) * range / span).rounded(.towardZero) : 0
        } else {
            index = abs(((range - 0.05 * step) / step).rounded(.up))
        }
        guard index.isFinite else { return 0 }
        return min(Int(min(index, Double(count - 1))), count - 1)
    }
}

// MARK: - Text info

enum ND2TextInfo {
    /// `TextInfoItem_<n>` → the `nd2` package's key.
    static let keys: [(String, String)] = [
        ("TextInfoItem_0", "imageId"), ("TextInfoItem_1", "type"), ("TextInfoItem_2", "group"),
        ("TextInfoItem_3", "sampleId"), ("TextInfoItem_4", "author"), ("TextInfoItem_5", "description"),
        ("TextInfoItem_6", "capturing"), ("TextInfoItem_7", "sampling"), ("TextInfoItem_8", "location"),
        ("TextInfoItem_9", "date"), ("TextInfoItem_10", "conclusion"), ("TextInfoItem_11", "info1"),
        ("TextInfoItem_12", "info2"), ("TextInfoItem_13", "optics"), ("TextInfoItem_14", "appVersion"),
    ]

    static func parse(_ top: LVValue) -> [String: String] {
        let info = top["SLxImageTextInfo"] ?? top
        var result: [String: String] = [:]
        for (item, key) in keys {
            if let text = nonEmpty(info[item]?.stringValue) { result[key] = text }
        }
        return result
    }

    /// Magnification written as `60x` / `40X` in a text (the first such number).
    static func magnification(in text: String?) -> Double? {
        guard let text else { return nil }
        let chars = Array(text)
        var found: Double?
        var i = 0
        while i < chars.count {
            if chars[i].isASCII, chars[i].isNumber {
                var j = i
                while j < chars.count, chars[j].isASCII, chars[j].isNumber || chars[j] == "." { j += 1 }
                if j < chars.count, chars[j] == "x" || chars[j] == "X", let value = Double(String(chars[i..<j])),
                    value > 0
                {
                    found = found ?? value
                }
                i = j
            } else {
                i += 1
            }
        }
        return found
    }
}
