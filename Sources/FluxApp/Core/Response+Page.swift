import Vapor

extension Response {
    /// A page Flux renders from `template` (in `Resources/Views`), never cached (pages carry a per-response CSP nonce).
    static func page(_ request: Request, _ template: String, _ context: some Encodable) async throws -> Response {
        let response = try await request.view.render(template, context).encodeResponse(for: request)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }
}
