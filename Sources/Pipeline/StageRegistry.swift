import Foundation

/// The stages lmdflow knows, by profile name, with the configuration sections each one reads.
///
/// A later module plugs its stage in by adding one `StageDescriptor` to `standard`; the daemon
/// and the runner need no change.
public struct StageRegistry: Sendable {
    /// Builds a stage from the profile sections it claims (validating their keys).
    public typealias Factory = @Sendable (_ sections: [String: ConfigNode]) throws(PipelineError) -> any Stage

    /// One known stage.
    public struct StageDescriptor: Sendable {
        /// The name used in `stages:`.
        public let name: String
        /// The top-level profile sections this stage reads (scPortrait's names where they exist).
        public let sections: [String]
        /// One line for `lmdflow check-config` and the docs.
        public let summary: String
        /// Builds the stage.
        public let make: Factory

        /// Creates a descriptor.
        public init(name: String, sections: [String], summary: String, make: @escaping Factory) {
            self.name = name
            self.sections = sections
            self.summary = summary
            self.make = make
        }
    }

    /// The known stages by name.
    public private(set) var descriptors: [String: StageDescriptor] = [:]

    /// An empty registry.
    public init() {}

    /// Adds (or replaces) a stage.
    public mutating func register(_ descriptor: StageDescriptor) { descriptors[descriptor.name] = descriptor }

    /// The stages that ship with lmdflow.
    public static var standard: StageRegistry {
        var registry = StageRegistry()
        registry.register(IngestStage.descriptor)
        registry.register(WaitStage.descriptor)
        registry.register(StitchStage.descriptor)
        registry.register(SegmentStage.descriptor)
        registry.register(ExtractStage.descriptor)
        registry.register(FeaturizeStage.descriptor)
        registry.register(SelectStage.descriptor)
        registry.register(CutStage.descriptor)
        return registry
    }
}
