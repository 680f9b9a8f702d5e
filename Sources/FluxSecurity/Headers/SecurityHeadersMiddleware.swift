import Vapor

/// Sets the browser-facing security headers on every response, with a fresh CSP nonce in each policy: the
/// one `request.cspNonce` handed to the page's inline scripts and styles, or a new one when nothing asked.
///
/// Install it outside the error middleware (`app.middleware.use(headers, at: .beginning)`) so error
/// responses carry the headers too.
// Future-based rather than AsyncMiddleware: it runs on every response, and each async middleware costs a
// task and an event-loop hop (measured by bench/security.sh).
public struct SecurityHeadersMiddleware: Middleware {
    /// Extra `connect-src` origins (an analytics or API host); `'self'` is always there.
    public let connectSources: [String]
    public let trustedProxies: TrustedProxies
    /// The policy split around its two nonces, its length without them, and the fixed headers, built once.
    private let policyParts: (String, String, String)
    private let policyPartsLength: Int
    private static let fixedHeaders: [(String, String)] = [
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]
    private static let hsts = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    private static let fixedBlock = HeaderBlock(fixedHeaders, alsoNaming: ["Content-Security-Policy"])
    private static let fixedBlockWithHSTS = HeaderBlock(fixedHeaders + [hsts], alsoNaming: ["Content-Security-Policy"])

    public init(connectSources: [String] = [], trustedProxies: TrustedProxies = TrustedProxies()) {
        self.connectSources = connectSources
        self.trustedProxies = trustedProxies
        let connect = (["'self'"] + connectSources).joined(separator: " ")
        policyParts = (
            "default-src 'self'; script-src 'self' 'nonce-",
            "'; style-src 'self' 'nonce-",
            "'; img-src 'self' data:; connect-src \(connect); frame-ancestors 'none'; base-uri 'none'; "
                + "form-action 'self'; object-src 'none'"
        )
        policyPartsLength = policyParts.0.utf8.count + policyParts.1.utf8.count + policyParts.2.utf8.count
    }

    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).changingResponse { apply(to: $0, for: request) }
    }

    private func apply(to response: Response, for request: Request) {
        // HSTS over plain HTTP is ignored by browsers and would be wrong on a development host.
        let https = trustedProxies.isHTTPS(request)
        response.updateHeaders { headers in
            // Only pages ask for the nonce; every other response gets one no element carries.
            let policy = { contentSecurityPolicy(nonce: request.storage[CSPNonce.Key.self] ?? CSPNonce.make()) }
            let block = https ? Self.fixedBlockWithHSTS : Self.fixedBlock
            if block.mayOverlap(headers) {
                // A route that set one of these fields keeps it: a sandbox policy for served files, say.
                if !headers.contains(name: "Content-Security-Policy") {
                    headers.add(name: "Content-Security-Policy", value: policy())
                }
                for (name, value) in block.fields where !headers.contains(name: name) {
                    headers.add(name: name, value: value)
                }
            } else {
                headers.add(name: "Content-Security-Policy", value: policy())
                headers.add(contentsOf: block.fields)
            }
        }
    }

    /// The policy text for `nonce`.
    public func contentSecurityPolicy(nonce: String) -> String {
        // Sized once: joining with `+` allocates each intermediate string.
        var policy = ""
        policy.reserveCapacity(policyPartsLength + 2 * nonce.utf8.count)
        policy += policyParts.0
        policy += nonce
        policy += policyParts.1
        policy += nonce
        policy += policyParts.2
        return policy
    }
}

/// Per-request nonces for the Content-Security-Policy.
public enum CSPNonce {
    struct Key: StorageKey {
        typealias Value = String
    }

    /// 128 random bits from the kernel's generator (through ``RandomPool``), base64url (CSP's nonce grammar
    /// allows `-` and `_`): unguessable for the lifetime of one response.
    static func make() -> String {
        RandomPool.shared.withBytes(16) { Base64URL.encode($0) }
    }
}

extension Request {
    /// This request's CSP nonce, drawn on first use; templates put it on inline `<script nonce>` and
    /// `<style nonce>` tags, and ``SecurityHeadersMiddleware`` puts the same one in the response's policy.
    /// Drawn lazily because storing a value in a request copies its storage, and most responses are not pages.
    public var cspNonce: String {
        if let nonce = storage[CSPNonce.Key.self] { return nonce }
        let nonce = CSPNonce.make()
        storage[CSPNonce.Key.self] = nonce
        return nonce
    }
}
