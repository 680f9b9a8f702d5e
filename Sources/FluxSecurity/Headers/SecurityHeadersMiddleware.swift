import Crypto
import Vapor

/// Sets the browser-facing security headers on every response, with a fresh CSP nonce in each policy: the
/// one `request.cspNonce` handed to the page's inline scripts and styles, or a new one when nothing asked.
///
/// A field the route already set is kept (a sandbox policy for served files, say). HSTS is sent only when
/// the request came over HTTPS as ``TrustedProxies`` judges it. The headers instruct browsers; they do not
/// escape output, so a page that writes untrusted text unescaped is still open to injection.
///
/// Install it outside the error middleware (`app.middleware.use(headers, at: .beginning)`) so error
/// responses carry the headers too.
// Future-based, as Vapor's own middlewares are: an AsyncMiddleware adds a task and an event-loop hop to
// every response.
public struct SecurityHeadersMiddleware: Middleware {
    /// Extra `connect-src` origins (an analytics or API host); `'self'` is always there.
    public let connectSources: [String]
    public let trustedProxies: TrustedProxies
    private let connectSourceList: String
    private static let fixedHeaders = [
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]
    private static let hsts = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")

    /// - Parameters:
    ///   - connectSources: origins the page may fetch from besides its own.
    ///   - trustedProxies: whose `X-Forwarded-Proto` decides whether the request was HTTPS (for HSTS).
    public init(connectSources: [String] = [], trustedProxies: TrustedProxies = TrustedProxies()) {
        self.connectSources = connectSources
        self.trustedProxies = trustedProxies
        connectSourceList = (["'self'"] + connectSources).joined(separator: " ")
    }

    /// Responds through `next`, then adds the headers to its response or error response.
    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).map { response in
            // HSTS over plain HTTP is ignored by browsers and would be wrong on a development host.
            let fixed = trustedProxies.isHTTPS(request) ? Self.fixedHeaders + [Self.hsts] : Self.fixedHeaders
            // Only pages ask for the nonce; every other response gets a fresh one no element carries.
            let policy = contentSecurityPolicy(nonce: CSPNonce.drawn(for: request) ?? CSPNonce.make())
            response.updateHeaders { headers in
                for (name, value) in [("Content-Security-Policy", policy)] + fixed where !headers.contains(name: name) {
                    headers.add(name: name, value: value)
                }
            }
            return response
        }
    }

    /// The Content-Security-Policy text for `nonce`: scripts and styles only from this origin or carrying the
    /// nonce, no framing, no plugins, forms and `<base>` kept to this origin.
    public func contentSecurityPolicy(nonce: String) -> String {
        "default-src 'self'; script-src 'self' 'nonce-\(nonce)'; style-src 'self' 'nonce-\(nonce)'; img-src 'self' data:; "
            + "connect-src \(connectSourceList); frame-ancestors 'none'; "
            + "base-uri 'none'; form-action 'self'; object-src 'none'"
    }
}

/// Per-request nonces for the Content-Security-Policy, read through `request.cspNonce`. A nonce is secret
/// only until the page is sent.
public enum CSPNonce {
    struct Key: StorageKey {
        typealias Value = String
    }

    /// 128 bits, unguessable for the lifetime of one response, from the system's generator, as base64url
    /// (CSP's nonce grammar allows `-` and `_`).
    static func make() -> String {
        // SymmetricKey is swift-crypto's source of random bytes; it lends them only through withUnsafeBytes.
        SymmetricKey(size: .bits128).withUnsafeBytes { Base64URL.encode($0) }
    }

    /// The nonce `request.cspNonce` handed out, if anything asked for one.
    static func drawn(for request: Request) -> String? {
        request.storage[Key.self]
    }
}

extension Request {
    /// This request's CSP nonce, drawn on first use; templates put it on inline `<script nonce>` and
    /// `<style nonce>` tags, and ``SecurityHeadersMiddleware`` puts the same one in the response's policy.
    /// It authorizes inline code only as long as no attacker-controlled text is written inside a nonced tag.
    public var cspNonce: String {
        if let nonce = CSPNonce.drawn(for: self) { return nonce }
        let nonce = CSPNonce.make()
        storage[CSPNonce.Key.self] = nonce
        return nonce
    }
}
