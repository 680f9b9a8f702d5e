import Crypto
import Vapor

/// The stylesheet and scripts in `Resources/Public`, compiled in and served by Flux itself at `/assets/<name>` (no CDN,
/// so `script-src 'self'` holds): `flux.css` for every page, `flux.js` (the core every page loads: API calls with
/// silent session renewal, field errors, local dates) and one script per kind of page after it. No script builds HTML
/// from data: text goes in through `textContent` only, and each attaches its handlers itself (the CSP allows no
/// inline handler).
enum SiteAssets {
    /// `GET /assets/:name`: `Resources/Public/<name>`, or 404.
    @Sendable static func serve(_ request: Request) async throws -> Response {
        try response(request.parameters.get("name") ?? "")
    }

    /// `Resources/Public/<name>` (a stylesheet or a script), cacheable for five minutes, with an ETag of its content.
    static func response(_ name: String) throws -> Response {
        guard !name.contains("/"), let text = embeddedResources["Resources/Public/" + name] else { throw AppError.notFound("No such asset.") }
        let response = Response(status: .ok, body: .init(string: text))
        response.headers.contentType = name.hasSuffix(".css") ? HTTPMediaType(type: "text", subType: "css")
                                                              : HTTPMediaType(type: "text", subType: "javascript")
        response.headers.replaceOrAdd(name: .cacheControl, value: "public, max-age=300")
        response.headers.replaceOrAdd(name: .eTag, value: "\"" + SHA256.hash(data: Data(text.utf8)).hexString.prefix(16) + "\"")
        return response
    }
}
