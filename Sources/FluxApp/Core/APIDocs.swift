import Crypto
import Foundation
import Vapor
import Yams

/// The API contract: `docs/openapi.yaml`, compiled in (see the `EmbedResources` plugin), served as
/// `GET /api/openapi.json` and rendered by the page at `GET /api/docs` (`Resources/Views/api-docs.leaf`), whose
/// script is `/assets/api-docs.js` (no CDN, so the strict CSP holds). The script builds the page from the document
/// with `textContent` only: descriptions are shown as text, never parsed as HTML.
struct APIDocs: Sendable {
    /// The document as JSON, converted once at boot: a document that does not parse stops Flux from starting.
    let json: ByteBuffer
    let etag: String

    init(yaml: String = embeddedResources["docs/openapi.yaml"] ?? "") throws {
        let data = try Self.json(fromYAML: yaml)
        json = ByteBuffer(data: data)
        etag = "\"" + SHA256.hash(data: data).hexString.prefix(16) + "\""
    }

    /// `GET /api/openapi.json`.
    @Sendable func document(_ request: Request) -> Response {
        let response = Response(status: .ok, body: .init(buffer: json))
        response.headers.contentType = .json
        response.headers.replaceOrAdd(name: .cacheControl, value: "public, max-age=300")
        response.headers.replaceOrAdd(name: .eTag, value: etag)
        return response
    }

    /// `GET /api/docs`.
    @Sendable func page(_ request: Request) async throws -> Response {
        try await Response.page(request, "api-docs", ["nonce": request.cspNonce])
    }

    // MARK: - YAML to JSON

    struct Unsupported: Error, CustomStringConvertible {
        let description: String
    }

    /// JSON with sorted keys. Scalars take the type YAML resolves for them (quoted ones are strings), so
    /// `'200'` stays a string and `true` a boolean, as every OpenAPI reader of the YAML sees them.
    static func json(fromYAML yaml: String) throws -> Data {
        guard let node = try Yams.compose(yaml: yaml) else { throw Unsupported(description: "the document is empty") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(try JSONValue(node))
    }

    enum JSONValue: Encodable {
        case string(String), integer(Int), number(Double), bool(Bool), null
        case array([JSONValue]), object([String: JSONValue])

        init(_ node: Node) throws {
            switch node {
            case .scalar(let scalar):
                switch Tag.Name(rawValue: node.tag.rawValue) {
                case .int: self = .integer(try Self.unwrap(node.int, scalar))
                case .float: self = .number(try Self.unwrap(node.float, scalar))
                case .bool: self = .bool(try Self.unwrap(node.bool, scalar))
                case .null: self = .null
                default: self = .string(scalar.string)
                }
            case .sequence(let sequence):
                self = .array(try sequence.map(JSONValue.init))
            case .mapping(let mapping):
                var object: [String: JSONValue] = [:]
                for (key, value) in mapping {
                    guard let name = key.scalar?.string else { throw Unsupported(description: "a mapping key is not a scalar") }
                    object[name] = try JSONValue(value)
                }
                self = .object(object)
            case .alias:
                // `compose` resolves aliases to the nodes they name; one left over is a Yams change to notice.
                throw Unsupported(description: "an unresolved YAML alias")
            }
        }

        private static func unwrap<T>(_ value: T?, _ scalar: Node.Scalar) throws -> T {
            guard let value else { throw Unsupported(description: "cannot read \(scalar.string)") }
            return value
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .integer(let value): try container.encode(value)
            case .number(let value): try container.encode(value)
            case .bool(let value): try container.encode(value)
            case .null: try container.encodeNil()
            case .array(let value): try container.encode(value)
            case .object(let value): try container.encode(value)
            }
        }
    }
}
