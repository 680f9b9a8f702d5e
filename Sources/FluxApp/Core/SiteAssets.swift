import Crypto
import Vapor

/// The stylesheet and scripts in `Resources/Public`, compiled in and served by Flux itself at `/assets/<name>` (no CDN,
/// so `script-src 'self'` holds): `flux.css` and `flux.js` for HQ and the portal, and `api-docs.js`, which ``APIDocs``
/// registers. `flux.js` never builds HTML from data: text goes in through `textContent` only, and it attaches every
/// handler itself (the CSP allows no inline handler).
enum SiteAssets {
    /// The handler that serves `Resources/Public/<name>`.
    static func serve(_ name: String) -> @Sendable (Request) async throws -> Response {
        { _ in try response(name) }
    }

    /// `Resources/Public/<name>` (a stylesheet or a script), cacheable for five minutes, with an ETag of its content.
    static func response(_ name: String) throws -> Response {
        guard let text = embeddedResources["Resources/Public/" + name] else { throw Abort(.notFound) }
        let response = Response(status: .ok, body: .init(string: text))
        response.headers.contentType = name.hasSuffix(".css") ? HTTPMediaType(type: "text", subType: "css")
                                                              : HTTPMediaType(type: "text", subType: "javascript")
        response.headers.replaceOrAdd(name: .cacheControl, value: "public, max-age=300")
        response.headers.replaceOrAdd(name: .eTag, value: "\"" + SHA256.hash(data: Data(text.utf8)).hexString.prefix(16) + "\"")
        return response
    }
}
