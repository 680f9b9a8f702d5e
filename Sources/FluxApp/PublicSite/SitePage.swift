import Vapor

/// `GET /`: the public page Flux serves itself (`Resources/Views/site.leaf`): the FluxAI chat and the consultation
/// form, plain JS and CSS under the strict CSP (this response's nonce, no inline handlers, text only ever set as
/// text). The visitor's sessionId lives in localStorage, else sessionStorage, else memory (private modes that refuse
/// storage still get a working chat); the CSRF token is fetched before each post.
enum SitePage {
    @Sendable static func home(_ request: Request) async throws -> Response {
        try await Response.page(request, "site", ["nonce": request.cspNonce])
    }
}
