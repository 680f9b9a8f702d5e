import Crypto
import Vapor

/// Sets the browser-facing security headers on every response and gives each request a fresh CSP nonce
/// (`request.cspNonce`) for the inline scripts and styles a template is allowed to carry.
///
/// Install it outside the error middleware (`app.middleware.use(headers, at: .beginning)`) so error
/// responses carry the headers too.
public struct SecurityHeadersMiddleware: AsyncMiddleware {
    /// Extra `connect-src` origins (an analytics or API host); `'self'` is always there.
    public let connectSources: [String]
    public let trustedProxies: TrustedProxies

    public init(connectSources: [String] = [], trustedProxies: TrustedProxies = TrustedProxies()) {
        self.connectSources = connectSources
        self.trustedProxies = trustedProxies
    }

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let nonce = CSPNonce.make()
        request.storage[CSPNonce.Key.self] = nonce
        let response = try await next.respond(to: request)
        // A route that set its own policy (a sandbox for served files, say) keeps it.
        for (name, value) in headers(nonce: nonce, request: request) where !response.headers.contains(name: name) {
            response.headers.add(name: name, value: value)
        }
        return response
    }

    /// The policy text for `nonce`.
    public func contentSecurityPolicy(nonce: String) -> String {
        let connect = (["'self'"] + connectSources).joined(separator: " ")
        return [
            "default-src 'self'", "script-src 'self' 'nonce-\(nonce)'", "style-src 'self' 'nonce-\(nonce)'",
            "img-src 'self' data:", "connect-src \(connect)", "frame-ancestors 'none'", "base-uri 'none'",
            "form-action 'self'", "object-src 'none'",
        ].joined(separator: "; ")
    }

    private func headers(nonce: String, request: Request) -> HTTPHeaders {
        var headers: HTTPHeaders = [
            "Content-Security-Policy": contentSecurityPolicy(nonce: nonce),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin",
        ]
        // HSTS over plain HTTP is ignored by browsers and would be wrong on a development host.
        if trustedProxies.isHTTPS(request) {
            headers.add(name: "Strict-Transport-Security", value: "max-age=63072000; includeSubDomains")
        }
        return headers
    }
}

/// Per-request nonces for the Content-Security-Policy.
public enum CSPNonce {
    struct Key: StorageKey {
        typealias Value = String
    }

    /// 128 random bits, base64: unguessable for the lifetime of one response.
    static func make() -> String {
        Data(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }).base64EncodedString()
    }
}

extension Request {
    /// This request's CSP nonce, set by ``SecurityHeadersMiddleware``; templates put it on inline
    /// `<script nonce>` and `<style nonce>` tags.
    public var cspNonce: String? { storage[CSPNonce.Key.self] }
}
