import Leaf
import LeafKit
import NIOPosix
import Vapor

/// Every page Flux renders is a Leaf template from `Resources/Views`, compiled into the binary (``embeddedResources``):
/// a deployment is one file, and a template cannot be missing or edited on the server. `#(…)` escapes everything it
/// prints, and so does ``TableRowsTag``, the one tag whose output Leaf leaves alone; Leaf's `#unsafeHTML` is not
/// registered (``tags``). Pages render with `request.view.render(_:_:)` and an `Encodable` context.
/// In a template, a `#` followed by a letter or `(` starts a tag: a page's own CSS writes `\#messages` or `\#d5dbe3`.
enum PageTemplates {
    static func use(on app: Application) {
        app.views.use(.leaf)
        app.leaf.sources = .singleSource(Source())
        app.leaf.cache = ParsedTemplates()
        app.leaf.tags = tags
    }

    /// Renders `template` outside any request (a mail's HTML part), from the same templates, with the same tags.
    static func render(_ template: String, _ context: some Encodable) async throws -> String {
        // A root directory only matters to Leaf's file source; ``Source`` reads none.
        let renderer = LeafRenderer(configuration: LeafConfiguration(rootDirectory: "/"), tags: tags, cache: parsedOutsideRequests,
                                    sources: .singleSource(Source()), eventLoop: MultiThreadedEventLoopGroup.singleton.any())
        return String(buffer: try await renderer.render(path: template, context: context).get())
    }

    private static let parsedOutsideRequests = ParsedTemplates()

    /// Leaf's tags without `#unsafeHTML`, plus `#tableRows` and `#t` (``MessageTag``).
    static var tags: [String: any LeafTag] {
        var tags = LeafKit.defaultTags
        tags["unsafeHTML"] = nil
        tags["tableRows"] = TableRowsTag()
        tags["t"] = MessageTag()
        return tags
    }

    /// Reads `Resources/Views/<name>.leaf` from the embedded files, never from the working directory.
    struct Source: LeafSource {
        func file(template: String, escape: Bool, on eventLoop: any EventLoop) throws -> EventLoopFuture<ByteBuffer> {
            let path = "Resources/Views/" + template + (template.hasSuffix(".leaf") ? "" : ".leaf")
            guard let text = embeddedResources[path] else { return eventLoop.makeFailedFuture(LeafError(.noTemplateExists(template))) }
            return eventLoop.makeSucceededFuture(ByteBuffer(string: text))
        }
    }

    /// Parsed templates, kept for the life of the process in every environment. Leaf switches its cache off in the
    /// development environment (so that edited files show at once) by setting `isEnabled` on every renderer it makes,
    /// but these templates are compiled in and cannot change, and parsing them again on every request (about 20 ms a
    /// page, measured) would buy nothing: so this cache ignores that switch.
    /// DefaultLeafCache locks around its own state; LeafKit does not mark it Sendable.
    final class ParsedTemplates: LeafCache, @unchecked Sendable {
        private let parsed = DefaultLeafCache()

        var isEnabled: Bool {
            get { true }
            set {}
        }

        var count: Int { parsed.count }

        func insert(_ document: LeafAST, on loop: any EventLoop, replace: Bool) -> EventLoopFuture<LeafAST> {
            parsed.insert(document, on: loop, replace: replace)
        }

        func retrieve(documentName: String, on loop: any EventLoop) -> EventLoopFuture<LeafAST?> {
            parsed.retrieve(documentName: documentName, on: loop)
        }

        func remove(_ documentName: String, on loop: any EventLoop) -> EventLoopFuture<Bool?> {
            parsed.remove(documentName, on: loop)
        }
    }
}

/// A value built as Leaf data directly (a long table's rows): Leaf's encoder takes a ``LeafDataRepresentable`` as it
/// is, which spares a page of thousands of values the cost of `Encodable`. Any other encoder gets its plain form.
struct LeafValue: Encodable, LeafDataRepresentable {
    let leafData: LeafData

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch leafData.celf {
        case .bool: try container.encode(leafData.bool)
        case .int: try container.encode(leafData.int)
        case .double: try container.encode(leafData.double)
        case .string: try container.encode(leafData.string)
        case .data: try container.encode(leafData.data)
        case .array: try container.encode(leafData.array?.map(LeafValue.init))
        case .dictionary: try container.encode(leafData.dictionary?.mapValues(LeafValue.init))
        case .void: try container.encodeNil()
        }
    }
}
