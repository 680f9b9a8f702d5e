import Crypto
import Foundation
import Vapor
import Yams

/// The API contract: `docs/openapi.yaml`, compiled in (see the `EmbedOpenAPIDocument` plugin), served as
/// `GET /api/openapi.json` and rendered by the page at `GET /api/docs`, whose script is
/// `/assets/api-docs.js` (no CDN, so the strict CSP holds).
struct APIDocs: Sendable {
    /// The document as JSON, converted once at boot: a document that does not parse stops Flux from starting.
    let json: ByteBuffer
    let etag: String

    init(yaml: String = embeddedOpenAPIDocument) throws {
        let data = try Self.json(fromYAML: yaml)
        json = ByteBuffer(data: data)
        etag = "\"" + SHA256.hash(data: data).hexString.prefix(16) + "\""
    }

    func register(on root: any RoutesBuilder) {
        root.get("api", "openapi.json") { [json, etag] _ in
            let response = Response(status: .ok, body: .init(buffer: json))
            response.headers.contentType = .json
            response.headers.replaceOrAdd(name: .cacheControl, value: "public, max-age=300")
            response.headers.replaceOrAdd(name: .eTag, value: etag)
            return response
        }
        root.get("api", "docs") { request in Response.page(Self.page(nonce: request.cspNonce)) }
        root.get("assets", "api-docs.js") { _ in
            SiteAssets.response(Self.script, type: HTTPMediaType(type: "text", subType: "javascript"))
        }
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

    // MARK: - The page

    static func page(nonce: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Flux API</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/assets/flux.css">
        </head>
        <body>
        <main>
        <h1 id="title">Flux API</h1>
        <p id="summary">Reading <a href="/api/openapi.json">/api/openapi.json</a>…</p>
        <nav id="tags" class="filters" aria-label="Groups"></nav>
        <div id="operations"></div>
        </main>
        <script src="/assets/api-docs.js" nonce="\(nonce)"></script>
        </body>
        </html>
        """
    }

    /// Builds the page from the document with `textContent` only: descriptions are shown as text, never
    /// parsed as HTML.
    static let script = #"""
        "use strict";
        (function () {
          const methods = ["get", "post", "put", "patch", "delete"];
          function el(tag, text, className) {
            const node = document.createElement(tag);
            if (text !== undefined && text !== null) node.textContent = String(text);
            if (className) node.className = className;
            return node;
          }
          function resolve(doc, value) {
            let seen = 0;
            while (value && value.$ref && seen++ < 10) {
              value = value.$ref.replace(/^#\//, "").split("/").reduce((node, key) => node && node[key], doc);
            }
            return value || {};
          }
          function schemaText(doc, schema, depth) {
            schema = resolve(doc, schema);
            if (depth > 4) return schema.type || "…";
            if (schema.oneOf) return schema.oneOf.map((s) => schemaText(doc, s, depth + 1)).join(" | ");
            if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
            if (schema.const !== undefined) return JSON.stringify(schema.const);
            if (schema.type === "array") return "[" + schemaText(doc, schema.items || {}, depth + 1) + "]";
            if (schema.type === "object" && schema.properties) {
              const required = new Set(schema.required || []);
              const pad = "  ".repeat(depth + 1);
              const lines = Object.keys(schema.properties).map((name) =>
                pad + name + (required.has(name) ? "" : "?") + ": " + schemaText(doc, schema.properties[name], depth + 1));
              return "{\n" + lines.join("\n") + "\n" + "  ".repeat(depth) + "}";
            }
            const bounds = [];
            if (schema.format) bounds.push(schema.format);
            if (schema.minLength !== undefined) bounds.push("≥" + schema.minLength + " chars");
            if (schema.maxLength !== undefined) bounds.push("≤" + schema.maxLength + " chars");
            if (schema.minimum !== undefined) bounds.push("≥" + schema.minimum);
            if (schema.maximum !== undefined) bounds.push("≤" + schema.maximum);
            if (schema.pattern) bounds.push("/" + schema.pattern + "/");
            return (schema.type || "any") + (bounds.length ? " (" + bounds.join(", ") + ")" : "");
          }
          function operation(doc, path, method, op, shared) {
            const section = el("section", null, "op");
            section.id = op.operationId || method + path;
            const head = el("h3");
            head.append(el("code", method.toUpperCase() + " " + path));
            section.append(head, el("p", op.summary));
            if (op.description) section.append(el("p", op.description, "payload"));
            const security = op.security || doc.security || [];
            const schemes = security.map((entry) => Object.keys(entry).join(" + ") || "none");
            section.append(el("p", "Authentication: " + (schemes.length ? schemes.join(" or ") : "none")));
            const parameters = (shared || []).concat(op.parameters || []).map((p) => resolve(doc, p));
            if (parameters.length) {
              const table = el("table");
              parameters.forEach((p) => {
                const row = el("tr");
                row.append(el("td", p.name), el("td", p.in), el("td", p.required ? "required" : "optional"),
                  el("td", schemaText(doc, p.schema || {}, 0)));
                table.append(row);
              });
              section.append(el("h4", "Parameters"), table);
            }
            if (op.requestBody) {
              const body = resolve(doc, op.requestBody);
              Object.keys(body.content || {}).forEach((type) => {
                section.append(el("h4", "Body (" + type + ")"), el("pre", schemaText(doc, body.content[type].schema || {}, 0)));
              });
            }
            const table = el("table");
            Object.keys(op.responses || {}).sort().forEach((status) => {
              const response = resolve(doc, op.responses[status]);
              const types = Object.keys(response.content || {});
              const row = el("tr");
              const shape = types.map((type) => type + " " + schemaText(doc, response.content[type].schema || {}, 0)).join("\n");
              const cell = el("td");
              cell.append(el("pre", shape));
              row.append(el("td", status), el("td", response.description), cell);
              table.append(row);
            });
            section.append(el("h4", "Responses"), table);
            return section;
          }
          fetch("/api/openapi.json", { headers: { Accept: "application/json" } })
            .then((response) => response.json())
            .then((doc) => {
              document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
              const count = { operations: 0 };
              const groups = new Map();
              Object.keys(doc.paths).sort().forEach((path) => {
                const item = doc.paths[path];
                methods.filter((m) => item[m]).forEach((method) => {
                  count.operations += 1;
                  const tag = (item[method].tags || ["other"])[0];
                  if (!groups.has(tag)) groups.set(tag, []);
                  groups.get(tag).push(operation(doc, path, method, item[method], item.parameters));
                });
              });
              document.getElementById("summary").textContent = count.operations + " operations. " + doc.info.summary;
              const nav = document.getElementById("tags");
              const container = document.getElementById("operations");
              (doc.tags || []).map((t) => t.name).filter((name) => groups.has(name)).forEach((name) => {
                const link = el("a", name);
                link.href = "#tag-" + name;
                nav.append(link);
                const heading = el("h2", name);
                heading.id = "tag-" + name;
                container.append(heading, ...groups.get(name));
              });
            })
            .catch(() => { document.getElementById("summary").textContent = "The API document could not be read."; });
        })();
        """#
}
