import Vapor

extension Response {
    /// An HTML page Flux renders itself, never cached (pages carry a per-response CSP nonce).
    static func page(_ html: String) -> Response {
        let response = Response(status: .ok, body: .init(string: html))
        response.headers.contentType = .html
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }
}
