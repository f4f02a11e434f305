/// The cheap look at a modern ND2 file: header, chunk map, frame count, image attributes.
enum ND2Probe {
    /// `ImageAttributesLV!` payloads larger than this are not decoded (observed: 580 bytes).
    static let maxAttributesBytes: UInt64 = 1 << 20

    static func probe(_ file: BinaryFile) throws(MicroscopyIOError) -> FileProbe {
        let container = try ND2Container(file: file)
        try container.validateEntries()
        var probe = FileProbe(format: .nd2, version: container.version, frames: container.frameCount)
        if let entry = container.entry("ImageAttributesLV!"),
            let chunk = try container.payload(of: entry, limit: maxAttributesBytes)
        {
            try applyAttributes(
                chunk.bytes, at: chunk.header.payloadOffset, key: entry.key, path: container.path, to: &probe)
        }
        return probe
    }

    /// Fills geometry from a decoded `SLxImageAttributes` level (nd2-format.md section 4).
    static func applyAttributes(
        _ payload: [UInt8], at payloadOffset: UInt64, key: String, path: String, to probe: inout FileProbe
    ) throws(MicroscopyIOError) {
        let top: [(name: String, value: LVValue)]
        do {
            top = try LVDecoder(payload).decode()
        } catch {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: payloadOffset + UInt64(error.offset),
                message: "chunk \(key): LV metadata undecodable: \(error.message)"
            )
        }
        // Normally one level named SLxImageAttributes; accept the fields at the top level too.
        let attributes: LVValue = top.first { $0.name == "SLxImageAttributes" }?.value ?? .level(top)
        func int(_ name: String) -> Int? {
            attributes[name]?.unsignedValue.flatMap { $0 <= UInt64(Int32.max) ? Int($0) : nil }
        }
        probe.width = int("uiWidth")
        probe.height = int("uiHeight")
        let bits = int("uiBpcInMemory")
        probe.bitsPerSample = bits
        probe.samplesPerPixel = int("uiComp")
        if let bits {
            // Integer data is unsigned in ND2; 32-bit components are float [nd2-format.md §4, R].
            probe.sampleFormat = bits == 32 ? "float" : "uint"
        }
        switch int("eCompression") {
        case 0?: probe.compression = "zlib"
        case 1?: probe.compression = "lossy"
        case 2?: probe.compression = "none"
        default: probe.compression = nil
        }
    }
}
