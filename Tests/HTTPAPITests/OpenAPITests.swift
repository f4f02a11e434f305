import Catalog
import Daemon
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Pipeline
import ServiceLifecycle
import Testing

@testable import HTTPAPI

@Suite struct OpenAPITests {
    /// The served document, parsed.
    static func document() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    static let methods = ["get", "post", "put", "delete", "patch", "head", "options"]

    @Test func routesAndDocumentAgree() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let document = try Self.document()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, item) in paths {
            for method in Self.methods where item[method] != nil { documented.insert("\(method.uppercased()) \(path)") }
        }
        let registered = Set(fixture.server().makeRouter().routes.map { "\($0.method.rawValue) \($0.path)" })
        #expect(
            registered.subtracting(documented).isEmpty,
            "registered but not documented: \(registered.subtracting(documented))")
        #expect(
            documented.subtracting(registered).isEmpty,
            "documented but not served: \(documented.subtracting(registered))")
        #expect(registered.count == 10)
    }

    /// Calls every documented operation: the answer's status must be one the document lists for
    /// it, and JSON bodies must carry the properties their schema requires (nested ones too).
    @Test func everyOperationAnswersAsDocumented() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.heartbeat(age: 1)
        // A day's grace: the walk over every operation may take long on a loaded machine, and
        // /readyz must still count the heartbeat as fresh.
        try await withClient(fixture.server(staleAfter: 86_400)) { client in
            let document = try Self.document()
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let components = document["components"] as? [String: Any] ?? [:]
            for (path, item) in paths.sorted(by: { $0.key < $1.key }) {
                for method in Self.methods {
                    guard let operation = item[method] as? [String: Any] else { continue }
                    let isRetry = path.hasSuffix("/retry")
                    let uri = path.replacingOccurrences(
                        of: "{id}", with: String(isRetry ? fixture.failed : fixture.succeeded)
                    )
                    .replacingOccurrences(of: "{name}", with: "cut.xml")
                    let body = path.hasSuffix("/select") ? ByteBuffer(string: "cell_sets: 3") : nil
                    let response = try await client.execute(
                        uri: uri, method: HTTPRequest.Method(method.uppercased())!, body: body)
                    let label = "\(method.uppercased()) \(uri) → \(response.status.code)"
                    #expect(!(response.errorMessage ?? "").hasPrefix("no such endpoint"), "\(label)")
                    let responses = operation["responses"] as? [String: Any] ?? [:]
                    let documentedResponse = responses[String(response.status.code)] as? [String: Any]
                    #expect(documentedResponse != nil, "\(label) is not a documented status")
                    guard let documentedResponse else { continue }
                    let resolved = Self.resolve(documentedResponse, components)
                    guard let content = resolved["content"] as? [String: Any],
                        let json = content["application/json"] as? [String: Any],
                        let schema = json["schema"] as? [String: Any],
                        response.headers[.contentType]?.hasPrefix("application/json") == true
                    else { continue }
                    let value = try JSONSerialization.jsonObject(with: Data(buffer: response.body))
                    let missing = Self.missingRequired(value, schema: schema, components: components, at: "$")
                    #expect(missing.isEmpty, "\(label): missing \(missing)")
                }
            }
            // The main success bodies, checked explicitly.
            let checks: [(String, HTTPRequest.Method, String, String)] = [
                ("/api/v1/runs", .get, "RunList", "200"),
                ("/api/v1/runs/\(fixture.succeeded)", .get, "RunDetails", "200"),
                ("/api/v1/runs/\(fixture.failed)", .get, "RunDetails", "200"),
                ("/readyz", .get, "Ready", "200"),
                ("/healthz", .get, "Health", "200"),
                ("/api/v1/runs/999", .get, "Error", "404"),
            ]
            for (uri, method, schemaName, status) in checks {
                let response = try await client.execute(uri: uri, method: method)
                #expect(String(response.status.code) == status, "\(uri)")
                let value = try JSONSerialization.jsonObject(with: Data(buffer: response.body))
                let missing = Self.missingRequired(
                    value, schema: ["$ref": "#/components/schemas/\(schemaName)"],
                    components: components, at: "$")
                #expect(missing.isEmpty, "\(uri): missing \(missing)")
            }
        }
    }

    @Test func servedDocumentIsTheSame() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            let response = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
            #expect(response.status == .ok)
            #expect(response.text == OpenAPIDocument.json)
        }
    }

    /// Follows a local `$ref`.
    static func resolve(_ object: [String: Any], _ components: [String: Any]) -> [String: Any] {
        guard let ref = object["$ref"] as? String, ref.hasPrefix("#/components/") else { return object }
        let parts = ref.dropFirst("#/components/".count).split(separator: "/").map(String.init)
        var current: Any = components
        for part in parts { current = (current as? [String: Any])?[part] as Any }
        return resolve(current as? [String: Any] ?? [:], components)
    }

    /// The key paths of required properties that `value` lacks.
    static func missingRequired(_ value: Any, schema: [String: Any], components: [String: Any], at path: String)
        -> [String]
    {
        let schema = resolve(schema, components)
        var missing: [String] = []
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                missing.append("\(path).\(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, child) in object {
                if let childSchema = properties[key] as? [String: Any] {
                    missing += missingRequired(child, schema: childSchema, components: components, at: "\(path).\(key)")
                }
            }
        } else if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, element) in array.enumerated() {
                missing += missingRequired(element, schema: items, components: components, at: "\(path)[\(index)]")
            }
        }
        return missing
    }
}

@Suite struct LiveServiceTests {
    /// The real service on a kernel-chosen port: the port file appears, a socket request is
    /// answered, and graceful shutdown stops the server and removes the port file.
    @Test func servesOnAKernelChosenPort() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        var settings = HTTPSettings()
        settings.enabled = true
        settings.port = 0
        let service = try APIService(
            settings: settings, catalogPath: fixture.layout.catalog, layout: fixture.layout,
            logger: Logger(label: "test"))
        let portFile = service.portFile
        let serviceGroup = ServiceGroup(configuration: .init(services: [service], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serviceGroup.run() }
            var port = 0
            for _ in 0..<200 {
                if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
                    let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0
                {
                    port = value
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(port > 0)
            if port > 0 {
                let answer = try Self.get("/healthz", port: port)
                #expect(answer.hasPrefix("HTTP/1.1 200"))
                #expect(answer.contains("\"status\":\"ok\""))
                let missing = try Self.get("/api/v1/runs/999", port: port)
                #expect(missing.hasPrefix("HTTP/1.1 404"))
                #expect(missing.contains("\"code\":\"not_found\""))
            }
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        #expect(!FileManager.default.fileExists(atPath: portFile))
    }

    /// One HTTP/1.1 GET over a plain socket; the whole answer as text.
    static func get(_ path: String, port: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw APIError.internalError }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw APIError.internalError }
        let request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
