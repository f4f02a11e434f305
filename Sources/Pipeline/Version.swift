/// The lmdflow version, written to every run and to `run.json`.
public enum LMDFlowVersion {
    /// Semantic version of this build.
    public static let current = "0.1.0"
}
