import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The parts of an OME-XML document (schema 2016-06 and the older ones, which name the same
/// elements) that the TIFF reader uses. Parsed with Foundation's `XMLParser`, namespaces
/// processed, so `ome:Image` and `Image` are the same; external entities are never resolved.
struct OMEMetadata: Sendable {
    struct Channel: Sendable {
        var name: String?
        var samplesPerPixel: Int?
        var color: String?
        var emissionNm: Double?
        var excitationNm: Double?
    }

    struct TiffData: Sendable {
        var ifd: Int?
        var firstZ = 0
        var firstC = 0
        var firstT = 0
        var planeCount: Int?
        /// `UUID` child: the file the planes are in (nil: this file).
        var uuid: String?
        var fileName: String?
    }

    struct PlaneInfo: Sendable {
        var theZ = 0
        var theC = 0
        var theT = 0
        var deltaTMs: Double?
        var positionUm: [Double?] = [nil, nil, nil]
    }

    struct Image: Sendable {
        var id: String?
        var name: String?
        var dimensionOrder = "XYZCT"
        var type: String?
        var sizeX = 0
        var sizeY = 0
        var sizeZ = 1
        var sizeC = 1
        var sizeT = 1
        var physicalSizeUm: [Double?] = [nil, nil, nil]
        var significantBits: Int?
        var objectiveID: String?
        var channels: [Channel] = []
        var tiffData: [TiffData] = []
        var planes: [PlaneInfo] = []
    }

    /// The root `UUID` attribute (`urn:uuid:…`): names this file in `TiffData/UUID`.
    var uuid: String?
    var images: [Image] = []
    /// `BinaryOnly` documents keep their metadata in a companion file.
    var isBinaryOnly = false
    /// Objective descriptions by ID (`Instrument/Objective`).
    var objectives: [String: String] = [:]

    /// Largest document parsed (real ones are kilobytes to a few megabytes).
    static let maxBytes = 64 << 20

    /// Parses `text`; nil when it is not well-formed XML or has no `OME` root.
    static func parse(_ text: String) -> OMEMetadata? {
        let data = Data(text.utf8)
        guard data.count <= maxBytes else { return nil }
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        let delegate = OMEParserDelegate()
        parser.delegate = delegate
        guard parser.parse(), delegate.sawRoot else { return nil }
        return delegate.metadata
    }

    /// Micrometres per `unit` (OME unit symbols and ImageJ's spellings); nil when unknown.
    static func micrometres(per unit: String) -> Double? {
        let trimmed = unit.trimmingCharacters(in: .whitespaces)
        switch trimmed.lowercased() {
        case "µm", "μm", "um", "micron", "microns", "micrometer", "micrometre", "\\u00b5m": return 1
        case "nm", "nanometer", "nanometre": return 1e-3
        case "pm": return 1e-6
        case "å", "angstrom", "\\u00c5": return 1e-4
        case "mm", "millimeter", "millimetre": return 1e3
        case "cm", "centimeter", "centimetre": return 1e4
        case "m", "meter", "metre": return 1e6
        case "in", "inch": return 25_400
        default: return nil
        }
    }
}

/// Collects ``OMEMetadata`` from parser events. Used on one thread, during one `parse()`.
private final class OMEParserDelegate: NSObject, XMLParserDelegate {
    var metadata = OMEMetadata()
    var sawRoot = false
    private var image: OMEMetadata.Image?
    private var inTiffData = false
    private var inUUID = false
    private var uuidText = ""

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        let name = localName(elementName)
        switch name {
        case "OME":
            sawRoot = true
            metadata.uuid = attributes["UUID"]
        case "BinaryOnly":
            metadata.isBinaryOnly = true
        case "Image":
            image = OMEMetadata.Image(id: attributes["ID"], name: attributes["Name"])
        case "Pixels":
            guard image != nil else { return }
            image!.dimensionOrder = attributes["DimensionOrder"]?.uppercased() ?? "XYZCT"
            image!.type = attributes["Type"] ?? attributes["PixelType"]
            image!.sizeX = int(attributes["SizeX"]) ?? 0
            image!.sizeY = int(attributes["SizeY"]) ?? 0
            image!.sizeZ = int(attributes["SizeZ"]) ?? 1
            image!.sizeC = int(attributes["SizeC"]) ?? 1
            image!.sizeT = int(attributes["SizeT"]) ?? 1
            image!.significantBits = int(attributes["SignificantBits"])
            for (index, axis) in ["X", "Y", "Z"].enumerated() {
                if let value = double(attributes["PhysicalSize" + axis]), value > 0 {
                    let unit = attributes["PhysicalSize\(axis)Unit"] ?? "µm"
                    image!.physicalSizeUm[index] = OMEMetadata.micrometres(per: unit).map { value * $0 }
                }
            }
        case "Channel":
            guard image != nil else { return }
            var channel = OMEMetadata.Channel(
                name: attributes["Name"], samplesPerPixel: int(attributes["SamplesPerPixel"]))
            if let color = int(attributes["Color"]) {
                let rgba = UInt32(bitPattern: Int32(truncatingIfNeeded: color))
                channel.color = String(
                    format: "#%02x%02x%02x", (rgba >> 24) & 0xFF, (rgba >> 16) & 0xFF, (rgba >> 8) & 0xFF)
            }
            channel.emissionNm = wavelength(attributes, "EmissionWavelength")
            channel.excitationNm = wavelength(attributes, "ExcitationWavelength")
            image!.channels.append(channel)
        case "TiffData":
            guard image != nil else { return }
            inTiffData = true
            image!.tiffData.append(
                OMEMetadata.TiffData(
                    ifd: int(attributes["IFD"]), firstZ: int(attributes["FirstZ"]) ?? 0,
                    firstC: int(attributes["FirstC"]) ?? 0, firstT: int(attributes["FirstT"]) ?? 0,
                    planeCount: int(attributes["PlaneCount"]) ?? int(attributes["NumPlanes"])))
        case "UUID":
            if inTiffData, image != nil, !image!.tiffData.isEmpty {
                inUUID = true
                uuidText = ""
                image!.tiffData[image!.tiffData.count - 1].fileName = attributes["FileName"]
            }
        case "Plane":
            guard image != nil else { return }
            var plane = OMEMetadata.PlaneInfo(
                theZ: int(attributes["TheZ"]) ?? 0, theC: int(attributes["TheC"]) ?? 0,
                theT: int(attributes["TheT"]) ?? 0)
            if let delta = double(attributes["DeltaT"]) {
                let unit = attributes["DeltaTUnit"] ?? "s"
                let scale: Double? =
                    switch unit {
                    case "s": 1_000
                    case "ms": 1
                    case "µs", "us": 1e-3
                    case "min": 60_000
                    case "h": 3_600_000
                    default: nil
                    }
                plane.deltaTMs = scale.map { delta * $0 }
            }
            for (index, axis) in ["X", "Y", "Z"].enumerated() {
                if let value = double(attributes["Position" + axis]) {
                    let unit = attributes["Position\(axis)Unit"] ?? "µm"
                    plane.positionUm[index] =
                        unit == "reference frame" ? value : OMEMetadata.micrometres(per: unit).map { value * $0 }
                }
            }
            image!.planes.append(plane)
        case "ObjectiveSettings":
            image?.objectiveID = attributes["ID"]
        case "Objective":
            if let id = attributes["ID"] {
                var text = attributes["Model"] ?? ""
                if text.isEmpty, let magnification = attributes["NominalMagnification"] {
                    text = magnification + "x"
                    if let aperture = attributes["LensNA"] { text += "/" + aperture }
                }
                if !text.isEmpty { metadata.objectives[id] = text }
            }
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inUUID { uuidText += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        switch localName(elementName) {
        case "Image":
            if let image { metadata.images.append(image) }
            image = nil
        case "TiffData":
            inTiffData = false
        case "UUID":
            if inUUID, image != nil, !image!.tiffData.isEmpty {
                image!.tiffData[image!.tiffData.count - 1].uuid = uuidText.trimmingCharacters(
                    in: .whitespacesAndNewlines)
            }
            inUUID = false
        default:
            break
        }
    }

    private func localName(_ name: String) -> String {
        if let colon = name.lastIndex(of: ":") { return String(name[name.index(after: colon)...]) }
        return name
    }

    private func int(_ text: String?) -> Int? {
        guard let text else { return nil }
        return Int(text.trimmingCharacters(in: .whitespaces))
    }

    private func double(_ text: String?) -> Double? {
        guard let text, let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            return nil
        }
        return value
    }

    private func wavelength(_ attributes: [String: String], _ name: String) -> Double? {
        guard let value = double(attributes[name]) else { return nil }
        switch attributes[name + "Unit"] ?? "nm" {
        case "nm": return value
        case "µm", "um": return value * 1_000
        case "pm": return value / 1_000
        case "Å": return value / 10
        default: return nil
        }
    }
}

// MARK: - Writing

extension OMEMetadata {
    /// Escapes text for an XML attribute value.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\t": out += "&#9;"
            default:
                // Characters XML 1.0 does not allow are dropped.
                if let scalar = character.unicodeScalars.first, character.unicodeScalars.count == 1,
                    scalar.value < 0x20
                {
                    continue
                }
                out.append(character)
            }
        }
        return out
    }

    /// `0.65` rather than `0.6500000000000000222`; integers without a fraction.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// An OME-XML document for one image whose planes are stored in IFDs 0..<n of the file
    /// named `fileName`, in `XYCZT` order (channel fastest, then Z, then T).
    static func document(
        uuid: String, fileName: String, imageName: String, width: Int, height: Int, pixelType: PixelType,
        channelNames: [String], sizeZ: Int, sizeT: Int, pixelSizeUm: [Double?]
    ) -> String {
        let planeCount = channelNames.count * sizeZ * sizeT
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"#
        xml += #"<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" "#
        xml += #"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#
        xml += #"xsi:schemaLocation="http://www.openmicroscopy.org/Schemas/OME/2016-06 "#
        xml += #"http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd" "#
        xml += #"UUID="\#(uuid)" Creator="lmdflow">"#
        xml += #"<Image ID="Image:0" Name="\#(escape(imageName))">"#
        xml += #"<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="\#(pixelType.rawValue)" "#
        xml +=
            #"SizeX="\#(width)" SizeY="\#(height)" SizeC="\#(channelNames.count)" SizeZ="\#(sizeZ)" SizeT="\#(sizeT)""#
        if pixelType == .uint8 || pixelType == .uint16 || pixelType == .uint32 || pixelType == .int16 {
            xml += #" SignificantBits="\#(pixelType.byteCount * 8)""#
        }
        xml += #" BigEndian="false" Interleaved="false""#
        for (index, axis) in ["X", "Y", "Z"].enumerated() {
            if index < pixelSizeUm.count, let size = pixelSizeUm[index], size > 0, size.isFinite {
                xml += #" PhysicalSize\#(axis)="\#(number(size))" PhysicalSize\#(axis)Unit="µm""#
            }
        }
        xml += ">"
        for (index, name) in channelNames.enumerated() {
            xml +=
                #"<Channel ID="Channel:0:\#(index)" Name="\#(escape(name))" SamplesPerPixel="1"><LightPath/></Channel>"#
        }
        xml += #"<TiffData IFD="0" PlaneCount="\#(planeCount)">"#
        xml += #"<UUID FileName="\#(escape(fileName))">\#(uuid)</UUID></TiffData>"#
        xml += "</Pixels></Image></OME>"
        return xml
    }
}
