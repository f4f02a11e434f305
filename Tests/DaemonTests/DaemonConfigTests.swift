import Foundation
import LMDTestSupport
import Pipeline
import Testing
@testable import Daemon

@Suite("DaemonConfig")
struct DaemonConfigTests {
    @Test("the defaults, from the initialiser and from an empty file")
    func defaults() throws {
        let plain = DaemonConfig()
        #expect(plain.layout.stateDirectory == "/var/lib/lmdflow")
        #expect(plain.layout.catalog == "/var/lib/lmdflow/catalog.sqlite")
        #expect(plain.layout.runs == "/var/lib/lmdflow/runs")
        #expect(plain.profileDirectories.first == "/etc/lmdflow/profiles")
        #expect(plain.dropFolders.isEmpty)
        #expect(plain.settleSeconds == 2)
        #expect(plain.rescanSeconds == 30)
        #expect(plain.concurrency == 1)
        #expect(plain.maxAttempts == 3)
        #expect(plain.afterRun == .move)
        #expect(plain.stopTimeoutSeconds == 60)
        #expect(plain.extensions == ["nd2", "tif", "tiff", "btf"])
        #expect(plain.createFolders)
        #expect(plain.logLevel == "info")

        let fixture = try ConfigFixture()
        let parsed = try fixture.parse("")
        #expect(parsed.path == fixture.configPath)
        #expect(parsed.layout == plain.layout)
        #expect(parsed.profileDirectories == plain.profileDirectories)
        #expect(parsed.dropFolders.isEmpty)
        #expect(parsed.concurrency == 1)
        #expect(parsed.maxAttempts == 3)
        #expect(parsed.extensions == plain.extensions)
        #expect(parsed.logLevel == "info")
        #expect(parsed.afterRun == .move)
    }

    @Test("a full valid configuration")
    func fullConfig() throws {
        let fixture = try ConfigFixture()
        let root = fixture.directory.path
        let config = try fixture.parse("""
            state_dir: \(root)/state
            catalog: \(root)/db/catalog.sqlite
            runs_dir: \(root)/scratch/runs
            outbox_dir: \(root)/share/outbox
            archive_dir: \(root)/archive
            failed_dir: \(root)/failed
            profile_dirs: [\(fixture.profiles)]
            settle_seconds: 5
            rescan_seconds: 120
            concurrency: 4
            max_attempts: 2
            after_run: leave
            stop_timeout_seconds: 10.5
            extensions: [ND2, .tif]
            create_folders: false
            log_level: debug
            drop_folders:
              - path: \(root)/inbox/nuclei
                profile: nuclei
              - path: \(root)/inbox/membranes
                profile: membranes
                settle_seconds: 0.5
                after_run: move
            """)
        #expect(config.layout.stateDirectory == "\(root)/state")
        #expect(config.layout.catalog == "\(root)/db/catalog.sqlite")
        #expect(config.layout.runs == "\(root)/scratch/runs")
        #expect(config.layout.outbox == "\(root)/share/outbox")
        #expect(config.layout.archive == "\(root)/archive")
        #expect(config.layout.failed == "\(root)/failed")
        #expect(config.profileDirectories == [fixture.profiles])
        #expect(config.settleSeconds == 5)
        #expect(config.rescanSeconds == 120)
        #expect(config.concurrency == 4)
        #expect(config.maxAttempts == 2)
        #expect(config.afterRun == .leave)
        #expect(config.stopTimeoutSeconds == 10.5)
        #expect(config.extensions == ["nd2", "tif"])
        #expect(config.createFolders == false)
        #expect(config.logLevel == "debug")
        #expect(config.dropFolders == [
            DropFolder(path: "\(root)/inbox/nuclei", profile: "nuclei", settleSeconds: 5, afterRun: .leave),
            DropFolder(path: "\(root)/inbox/membranes", profile: "membranes", settleSeconds: 0.5, afterRun: .move),
        ])
        let profile = try config.profile(for: config.dropFolders[1])
        #expect(profile.name == "membranes")
        #expect((profile.stages.first as? IngestStage)?.verifyHash == false)
    }

    @Test("load reads the file from disk")
    func loadFromDisk() throws {
        let fixture = try ConfigFixture()
        try fixture.directory.write("lmdflow.yml", "profile_dirs: [profiles]\nconcurrency: 3\n")
        let config = try DaemonConfig.load(path: fixture.configPath)
        #expect(config.concurrency == 3)
        #expect(config.profileDirectories == [fixture.profiles])
        let missing = pipelineErrorOf { () throws(PipelineError) in
            try DaemonConfig.load(path: fixture.directory.file("absent.yml"))
        }
        #expect(missing?.code == .config)
    }

    @Test("an unknown top-level key is named with a suggestion and its line")
    func unknownTopLevelKey() throws {
        let fixture = try ConfigFixture()
        let error = try #require(fixture.error("state_dir: /tmp/x\n\nconcurency: 2\n"))
        #expect(error.code == .config)
        #expect(error.path == fixture.configPath)
        #expect(error.message.contains("unknown key 'concurency'"))
        #expect(error.message.contains("did you mean 'concurrency'?"))
        #expect(error.location?.hasPrefix("3:") == true)
    }

    @Test("an unknown key in a drop folder is reported with its key path")
    func dropFolderTypo() throws {
        let fixture = try ConfigFixture()
        let error = try #require(fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: inbox
                profile: nuclei
                profle: membranes
            """))
        #expect(error.code == .config)
        #expect(error.message.hasPrefix("drop_folders[0]: "))
        #expect(error.message.contains("unknown key 'profle'"))
        #expect(error.message.contains("did you mean 'profile'?"))
        #expect(error.location?.hasPrefix("5:") == true)
    }

    @Test("a drop folder with only a misspelt profile key is reported")
    func dropFolderOnlyTypo() throws {
        let fixture = try ConfigFixture()
        let error = try #require(fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: inbox
                profle: nuclei
            """))
        #expect(error.code == .config)
        #expect(error.message.hasPrefix("drop_folders[0]: "))
        #expect(error.message.contains("profile"))
    }

    @Test(
        "a misspelt profile key is named, not only reported as missing"
    )
    func dropFolderOnlyTypoNamed() throws {
        let fixture = try ConfigFixture()
        let error = try #require(fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: inbox
                profle: nuclei
            """))
        #expect(error.message.contains("'profle'"))
    }

    @Test("a profile that does not exist is named with the key path drop_folders[0].profile")
    func missingProfile() throws {
        let fixture = try ConfigFixture()
        let error = try #require(fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: inbox
                profile: cells
            """))
        #expect(error.code == .profileNotFound)
        #expect(error.message.contains("drop_folders[0].profile"))
        #expect(error.message.contains("'cells'"))
        #expect(error.message.contains("membranes, nuclei"))
        #expect(error.path == fixture.configPath)
        #expect(error.location?.hasPrefix("4:") == true)
    }

    @Test("a drop folder whose profile is invalid reports the profile file")
    func invalidProfile() throws {
        let fixture = try ConfigFixture()
        let broken = try fixture.directory.write("profiles/broken.yml", "stages: [ingest]\nbogus: 1\n")
        let error = try #require(fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: inbox
                profile: broken
            """))
        #expect(error.path == broken)
        #expect(error.message.contains("drop_folders[0].profile"))
        #expect(error.message.contains("bogus"))
    }

    @Test("missing path or profile in a drop folder")
    func missingKeys() throws {
        let fixture = try ConfigFixture()
        let noPath = try #require(fixture.error("profile_dirs: [profiles]\ndrop_folders:\n  - profile: nuclei\n"))
        #expect(noPath.message.contains("drop_folders[0]: missing key 'path'"))
        let noProfile = try #require(fixture.error("profile_dirs: [profiles]\ndrop_folders:\n  - path: inbox\n"))
        #expect(noProfile.message.contains("drop_folders[0]: missing key 'profile'"))
        let notAList = try #require(fixture.error("drop_folders: inbox\n"))
        #expect(notAList.message.hasPrefix("drop_folders: expected a list"))
    }

    @Test("after_run: archive lists the choices")
    func afterRunChoices() throws {
        let fixture = try ConfigFixture()
        let top = try #require(fixture.error("after_run: archive\n"))
        #expect(top.code == .config)
        #expect(top.message == "after_run: expected one of move, leave, got 'archive'")
        let folder = try #require(fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: inbox
                profile: nuclei
                after_run: archive
            """))
        #expect(folder.message == "drop_folders[0].after_run: expected one of move, leave, got 'archive'")
    }

    @Test("wrong types and ranges name the key")
    func wrongValues() throws {
        let fixture = try ConfigFixture()
        #expect(fixture.error("concurrency: two\n")?.message.hasPrefix("concurrency: expected an integer") == true)
        #expect(fixture.error("concurrency: 0\n")?.message == "concurrency: expected an integer in 1...256, got 0")
        #expect(fixture.error("rescan_seconds: 0.5\n")?.message.hasPrefix("rescan_seconds: ") == true)
        #expect(fixture.error("log_level: loud\n")?.message.contains("trace, debug, info") == true)
        #expect(fixture.error("create_folders: maybe\n")?.message.hasPrefix("create_folders: ") == true)
    }

    @Test("the http section: off by default, loopback needs no token, other addresses do")
    func httpSection() throws {
        let fixture = try ConfigFixture()
        #expect(try fixture.parse("").http == HTTPSettings())
        #expect(!HTTPSettings().enabled && HTTPSettings().bind == "127.0.0.1" && HTTPSettings().isLoopback)
        let local = try fixture.parse("http: {enabled: true, port: 0}\n").http
        #expect(local.enabled && local.port == 0 && local.readTokensFile == nil)
        let remote = try fixture.parse("http: {enabled: true, bind: 0.0.0.0, read_tokens_file: api.tokens}\n").http
        #expect(remote.readTokensFile == "\(fixture.directory.path)/api.tokens")
        #expect(!remote.isLoopback)
        #expect(fixture.error("http: {enabled: true, bind: 0.0.0.0}\n")?.message.contains("requires read_tokens_file") == true)
        #expect(fixture.error("http: {enabled: true, prot: 80}\n")?.message.contains("port") == true)
        #expect(fixture.error("http: {port: 70000}\n")?.message.contains("0...65535") == true)
    }

    @Test("relative paths are resolved against the config file's directory")
    func relativePaths() throws {
        let fixture = try ConfigFixture()
        let root = fixture.directory.path
        let config = try fixture.parse("""
            state_dir: state
            outbox_dir: ../shared-outbox
            profile_dirs: [profiles, ./more/../profiles]
            drop_folders:
              - path: inbox/nuclei
                profile: nuclei
            """)
        let parent = URL(fileURLWithPath: root).deletingLastPathComponent().path
        #expect(config.layout.stateDirectory == "\(root)/state")
        #expect(config.layout.catalog == "\(root)/state/catalog.sqlite")
        #expect(config.layout.runs == "\(root)/state/runs")
        #expect(config.layout.outbox == "\(parent)/shared-outbox")
        #expect(config.profileDirectories == [fixture.profiles, fixture.profiles])
        #expect(config.dropFolders.map(\.path) == ["\(root)/inbox/nuclei"])
        #expect(config.dropFolders.first?.profile == "nuclei")
    }

    @Test("a drop folder inside the service's own directories is refused")
    func dropFolderInsideState() throws {
        let fixture = try ConfigFixture()
        let root = fixture.directory.path
        for inside in ["\(root)/state/runs/inbox", "\(root)/state/runs", "\(root)/state/outbox/x",
                       "\(root)/state/archive", "\(root)/state/failed/a"] {
            let error = fixture.error("""
                state_dir: \(root)/state
                profile_dirs: [profiles]
                drop_folders:
                  - path: \(inside)
                    profile: nuclei
                """)
            #expect(error?.code == .config, "\(inside) should be refused")
            #expect(error?.message.contains("inside the service's own") == true)
        }
        // Beside the runs directory (same prefix, different name) is fine.
        let beside = try fixture.parse("""
            state_dir: \(root)/state
            profile_dirs: [profiles]
            drop_folders:
              - path: \(root)/state/runs-inbox
                profile: nuclei
            """)
        #expect(beside.dropFolders.count == 1)
    }

    @Test("the same folder twice is refused")
    func sameFolderTwice() throws {
        let fixture = try ConfigFixture()
        let error = try #require(fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: inbox
                profile: nuclei
              - path: ./inbox
                profile: membranes
            """))
        #expect(error.code == .config)
        #expect(error.message.hasPrefix("drop_folders[1]: "))
        #expect(error.message.contains("listed twice"))
    }

    @Test(
        "the same absolute folder spelt differently is refused"
    )
    func sameAbsoluteFolderTwice() throws {
        let fixture = try ConfigFixture()
        let root = fixture.directory.path
        let twice = fixture.error("""
            profile_dirs: [profiles]
            drop_folders:
              - path: \(root)/inbox
                profile: nuclei
              - path: \(root)/inbox/
                profile: membranes
            """)
        #expect(twice?.message.contains("listed twice") == true)
        let inside = fixture.error("""
            state_dir: \(root)/state
            profile_dirs: [profiles]
            drop_folders:
              - path: \(root)/elsewhere/../state/runs/in
                profile: nuclei
            """)
        #expect(inside?.message.contains("inside the service's own") == true)
    }
}

/// The `PipelineError` that `body` throws, or nil when it does not throw.
func pipelineErrorOf<T>(_ body: () throws(PipelineError) -> T) -> PipelineError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}
