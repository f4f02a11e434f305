import MicroscopyIO

extension PipelineError {
    /// A format error of an input file as a pipeline error: code `input_<code>` (e.g.
    /// `input_truncated`), the file, the byte offset when known, and the reader's message.
    init(input error: MicroscopyIOError, stage: String? = nil) {
        self.init(code: Code(rawValue: "input_\(error.code.rawValue)"), path: error.path,
                  location: error.offset.map { "offset \($0)" }, stage: stage, message: error.message)
    }
}
