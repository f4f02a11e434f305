import Foundation
import LMDTestSupport
import Testing
@testable import Pipeline

@Suite("ConfigNode and ConfigReader")
struct ConfigReaderTests {
    @Test("an unknown key is named with a suggestion and its line")
    func unknownKeyWithSuggestion() throws {
        let yaml = """
            state_dir: /var/lib/lmdflow
            concurency: 2
            """
        let node = try ConfigNode.parse(yaml: yaml, file: "/etc/lmdflow/lmdflow.yml")
        let reader = try ConfigReader(node)
        #expect(try reader.string("state_dir", default: "") == "/var/lib/lmdflow")
        #expect(try reader.int("concurrency", default: 1, range: 1...64) == 1)
        let error = try #require(pipelineError { () throws(PipelineError) in try reader.finish() })
        #expect(error.code == .config)
        #expect(error.message.contains("'concurency'"))
        #expect(error.message.contains("did you mean 'concurrency'?"))
        #expect(error.path == "/etc/lmdflow/lmdflow.yml")
        let location = try #require(error.location)
        #expect(location.hasPrefix("2:"), "location \(location) should be on line 2")
        #expect(error.description.hasPrefix("/etc/lmdflow/lmdflow.yml:2:"))
    }

    @Test("an unknown key far from every known key gets no suggestion")
    func unknownKeyWithoutSuggestion() throws {
        let node = try ConfigNode.parse(yaml: "zzzzzzzz: 1", file: "c.yml")
        let reader = try ConfigReader(node)
        _ = try reader.int("concurrency", default: 1, range: 1...64)
        let error = try #require(pipelineError { () throws(PipelineError) in try reader.finish() })
        #expect(error.message.contains("unknown key 'zzzzzzzz'"))
        #expect(!error.message.contains("did you mean"))
    }

    @Test("finish passes when every key was read or allowed")
    func finishPasses() throws {
        let node = try ConfigNode.parse(yaml: "a: 1\nb: x\nc: [1]", file: "c.yml")
        let reader = try ConfigReader(node)
        _ = try reader.int("a", default: 0, range: 0...10)
        _ = try reader.string("b", default: "")
        reader.allow(["c"])
        #expect(reader.keys == ["a", "b", "c"])
        try reader.finish()
    }

    @Test("an unknown key whose value is a scalar or empty is located on its own line")
    func unknownKeyLineScalar() throws {
        let reader = try ConfigReader(try ConfigNode.parse(yaml: "a: 1\nfoo:\nbar: 2\n", file: "c.yml"))
        _ = try reader.int("a", default: 0, range: 0...9)
        reader.allow(["bar"])
        let error = try #require(pipelineError { () throws(PipelineError) in try reader.finish() })
        #expect(error.location?.hasPrefix("2:") == true)
    }

    @Test(
        "an unknown key whose value is a block mapping is located on the key's line"
    )
    func unknownKeyLineBlockMapping() throws {
        let reader = try ConfigReader(try ConfigNode.parse(yaml: "a: 1\nfoo:\n  bar: 1\n", file: "c.yml"))
        _ = try reader.int("a", default: 0, range: 0...9)
        let error = try #require(pipelineError { () throws(PipelineError) in try reader.finish() })
        #expect(error.location?.hasPrefix("2:") == true)
        let profile = profileError("stages: [ingest]\ningst:\n  verify_hash: false\n")
        #expect(profile?.location?.hasPrefix("2:") == true)
    }

    @Test("a wrong type names the key path and the value")
    func wrongType() throws {
        let yaml = """
            limits:
              concurrency: two
            """
        let node = try ConfigNode.parse(yaml: yaml, file: "c.yml")
        let section = try #require(try ConfigReader(node).section("limits"))
        let error = try #require(pipelineError { () throws(PipelineError) in
            try section.int("concurrency", default: 1, range: 1...64)
        })
        #expect(error.code == .config)
        #expect(error.message.hasPrefix("limits.concurrency: "))
        #expect(error.message.contains("'two'"))
        #expect(error.location?.hasPrefix("2:") == true)
    }

    @Test("values out of range are refused with the range and the value")
    func outOfRange() throws {
        let node = try ConfigNode.parse(yaml: "concurrency: 0\nsettle: 99.5\nratio: 0.5", file: "c.yml")
        let reader = try ConfigReader(node)
        let int = try #require(pipelineError { () throws(PipelineError) in
            try reader.int("concurrency", default: 1, range: 1...64)
        })
        #expect(int.message == "concurrency: expected an integer in 1...64, got 0")
        let double = try #require(pipelineError { () throws(PipelineError) in
            try reader.double("settle", default: 1, range: 0...60)
        })
        #expect(double.message.hasPrefix("settle: expected a number in 0.0...60.0"))
        #expect(double.message.contains("99.5"))
        #expect(try reader.double("ratio", default: 1, range: 0...1) == 0.5)
    }

    @Test("double accepts integers; bool, choice and strings check their types")
    func typedAccessors() throws {
        let yaml = """
            seconds: 3
            flag: yes
            mode: archive
            one: nd2
            many: [nd2, tif]
            nested: [[a]]
            """
        let reader = try ConfigReader(try ConfigNode.parse(yaml: yaml, file: "c.yml"))
        #expect(try reader.double("seconds", default: 0, range: 0...10) == 3)
        let flag = pipelineError { () throws(PipelineError) in try reader.bool("flag", default: false) }
        #expect(flag?.message == "flag: expected true or false, got 'yes'")
        let choice = pipelineError { () throws(PipelineError) in
            try reader.choice("mode", default: "move", in: ["move", "leave"])
        }
        #expect(choice?.message == "mode: expected one of move, leave, got 'archive'")
        #expect(try reader.strings("one", default: []) == ["nd2"])
        #expect(try reader.strings("many", default: []) == ["nd2", "tif"])
        #expect(try reader.strings("absent", default: ["x"]) == ["x"])
        let nested = pipelineError { () throws(PipelineError) in try reader.strings("nested", default: []) }
        #expect(nested?.message.hasPrefix("nested[0]: expected a string") == true)
    }

    @Test("a key that appears twice is a config error")
    func duplicateKey() throws {
        let yaml = """
            concurrency: 1
            settle_seconds: 2
            concurrency: 2
            """
        let error = try #require(pipelineError { () throws(PipelineError) in
            try ConfigNode.parse(yaml: yaml, file: "c.yml")
        })
        #expect(error.code == .config)
        #expect(error.path == "c.yml")
        #expect(error.message.contains("concurrency"))
    }

    @Test("a YAML syntax error is a config error naming the file")
    func syntaxError() throws {
        let error = try #require(pipelineError { () throws(PipelineError) in
            try ConfigNode.parse(yaml: "stages: [ingest\nfoo: : bar", file: "/p/bad.yml")
        })
        #expect(error.code == .config)
        #expect(error.path == "/p/bad.yml")
        #expect(error.message.hasPrefix("not valid YAML"))
    }

    @Test("a missing file is a config error")
    func missingFile() throws {
        let error = pipelineError { () throws(PipelineError) in
            try ConfigNode.load(path: "/nonexistent/\(UUID().uuidString).yml")
        }
        #expect(error?.code == .config)
        #expect(error?.message.hasPrefix("cannot read") == true)
    }

    @Test("aliases resolve to the anchored value (Yams resolves them while composing)")
    func aliases() throws {
        let node = try ConfigNode.parse(yaml: "a: &x 1\nb: *x", file: "c.yml")
        #expect(node.value == .object(["a": .int(1), "b": .int(1)]))
    }

    @Test("a reader on a non-mapping fails")
    func notAMapping() throws {
        let node = try ConfigNode.parse(yaml: "- a\n- b", file: "c.yml")
        let error = pipelineError { () throws(PipelineError) in try ConfigReader(node) }
        #expect(error?.message.contains("expected a mapping") == true)
    }

    @Test("an empty document is an empty mapping; an empty section is an empty reader")
    func emptyDocument() throws {
        let empty = try ConfigNode.parse(yaml: "", file: "c.yml")
        #expect(try ConfigReader(empty).keys.isEmpty)
        let reader = try ConfigReader(try ConfigNode.parse(yaml: "ingest:\nwait: ~", file: "c.yml"))
        #expect(try reader.section("ingest")?.keys == [])
        #expect(try reader.section("wait")?.keys == [])
        #expect(try reader.section("absent") == nil)
    }

    @Test("plain scalars are typed as YAML 1.2 core; quoted scalars stay strings")
    func scalarTyping() throws {
        let yaml = """
            t: true
            f: false
            T: True
            n: null
            tilde: ~
            empty:
            i: 42
            neg: -7
            d: 1.5
            e: 1e3
            q: "1"
            sq: 'true'
            s: hello
            yes: yes
            version: 1.2.3
            list: [1, two, 3.0]
            """
        let node = try ConfigNode.parse(yaml: yaml, file: "c.yml")
        guard case .object(let values) = node.value else {
            Issue.record("expected an object, got \(node.value)")
            return
        }
        #expect(values["t"] == .bool(true))
        #expect(values["f"] == .bool(false))
        #expect(values["T"] == .bool(true))
        #expect(values["n"] == .null)
        #expect(values["tilde"] == .null)
        #expect(values["empty"] == .null)
        #expect(values["i"] == .int(42))
        #expect(values["neg"] == .int(-7))
        #expect(values["d"] == .double(1.5))
        #expect(values["e"] == .double(1000))
        #expect(values["q"] == .string("1"))
        #expect(values["sq"] == .string("true"))
        #expect(values["s"] == .string("hello"))
        #expect(values["yes"] == .string("yes"))
        #expect(values["version"] == .string("1.2.3"))
        #expect(values["list"] == .array([.int(1), .string("two"), .double(3)]))
    }

    @Test("a quoted number is not an integer for int()")
    func quotedNumberIsString() throws {
        let reader = try ConfigReader(try ConfigNode.parse(yaml: "concurrency: \"2\"", file: "c.yml"))
        let error = pipelineError { () throws(PipelineError) in
            try reader.int("concurrency", default: 1, range: 1...64)
        }
        #expect(error?.message.contains("got '2'") == true)
    }

    @Test("key paths and lines follow nested lists and mappings")
    func keyPaths() throws {
        let yaml = """
            drop_folders:
              - path: /a
              - path: /b
                profile: x
            """
        let node = try ConfigNode.parse(yaml: yaml, file: "c.yml")
        let folders = try ConfigReader(node).list("drop_folders")
        #expect(folders.count == 2)
        #expect(folders[1].node.keyPath == "drop_folders[1]")
        let profile = try #require(folders[1].child("profile"))
        #expect(profile.keyPath == "drop_folders[1].profile")
        #expect(profile.line == 4)
        #expect(folders[0].child("path")?.line == 2)
    }

    @Test("edit distance and closest key", arguments: [
        ("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("same", "same", 0), ("concurency", "concurrency", 1),
    ])
    func editDistance(a: String, b: String, expected: Int) {
        #expect(ConfigReader.editDistance(a, b) == expected)
    }

    @Test("closest picks the nearest known key only when it is close")
    func closest() {
        #expect(ConfigReader.closest(to: "profle", in: ["path", "profile", "after_run"]) == "profile")
        #expect(ConfigReader.closest(to: "PROFILE", in: ["path", "profile"]) == "profile")
        #expect(ConfigReader.closest(to: "completely_different", in: ["path", "profile"]) == nil)
        #expect(ConfigReader.closest(to: "x", in: []) == nil)
    }
}

@Suite("ConfigValue")
struct ConfigValueTests {
    @Test("canonical JSON does not depend on key order")
    func canonicalJSONKeyOrder() throws {
        let first = try ConfigNode.parse(yaml: "b: 1\na:\n  y: true\n  x: [1, 'two', null]\n", file: "a.yml").value
        let second = try ConfigNode.parse(yaml: "a: {x: [1, 'two', ~], y: true}\nb: 1\n", file: "b.yml").value
        #expect(first == second)
        #expect(first.canonicalJSON == second.canonicalJSON)
        #expect(first.canonicalJSON == #"{"a":{"x":[1,"two",null],"y":true},"b":1}"#)
    }

    @Test("canonical JSON differs when a value differs and keeps slashes unescaped")
    func canonicalJSONValues() {
        let a = ConfigValue.object(["path": .string("/a/b"), "n": .int(1)])
        let b = ConfigValue.object(["path": .string("/a/b"), "n": .int(2)])
        #expect(a.canonicalJSON != b.canonicalJSON)
        #expect(a.canonicalJSON == #"{"n":1,"path":"/a/b"}"#)
    }

    @Test("ConfigValue round-trips through JSON")
    func codableRoundTrip() throws {
        let value = ConfigValue.object([
            "a": .array([.int(1), .double(2.5), .string("x"), .bool(false), .null]),
            "b": .object(["c": .string("d")]),
        ])
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(ConfigValue.self, from: data) == value)
    }
}
