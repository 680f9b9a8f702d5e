import Crypto
import Vapor

/// Sets the browser-facing security headers on every response, with a fresh CSP nonce in each policy: the
/// one `request.cspNonce` handed to the page's inline scripts and styles, or a new one when nothing asked.
///
/// Install it outside the error middleware (`app.middleware.use(headers, at: .beginning)`) so error
/// responses carry the headers too.
// Future-based rather than AsyncMiddleware: it runs on every response, and each async middleware costs a
// task and an event-loop hop (measured by bench/security.sh). A class because the response callback captures
// it: capturing a struct copies it, one retain and release per field on every request.
public final class SecurityHeadersMiddleware: Middleware {
    /// Extra `connect-src` origins (an analytics or API host); `'self'` is always there.
    public let connectSources: [String]
    public let trustedProxies: TrustedProxies
    /// The policy's text split around its two nonces, and the fixed headers, built once.
    private let policyParts: [[UInt8]]
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
        policyParts = [
            "default-src 'self'; script-src 'self' 'nonce-",
            "'; style-src 'self' 'nonce-",
            "'; img-src 'self' data:; connect-src \(connect); frame-ancestors 'none'; base-uri 'none'; "
                + "form-action 'self'; object-src 'none'",
        ].map { Array($0.utf8) }
        policyPartsLength = policyParts.reduce(0) { $0 + $1.count }
    }

    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).changingResponse { self.apply(to: $0, for: request) }
    }

    private func apply(to response: Response, for request: Request) {
        // HSTS over plain HTTP is ignored by browsers and would be wrong on a development host.
        let https = trustedProxies.isHTTPS(request)
        response.updateHeaders { headers in
            // Only pages ask for the nonce; every other response gets one no element carries.
            let policy = { CSPNonce.drawn(for: request).map(self.contentSecurityPolicy(nonce:)) ?? self.contentSecurityPolicy(nonce: CSPNonce.make()) }
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
        var nonce = nonce
        return nonce.withUTF8 { nonce in
            policy(nonceLength: nonce.count) { UnsafeMutableRawBufferPointer($0).copyMemory(from: UnsafeRawBufferPointer(nonce)) }
        }
    }

    /// The policy text, built in place: `writeNonce` fills the first nonce's place, which is then copied into
    /// the second's.
    private func policy(nonceLength: Int, writeNonce: (UnsafeMutableBufferPointer<UInt8>) -> Void) -> String {
        String(unsafeUninitializedCapacity: policyPartsLength + 2 * nonceLength) { text in
            var writer = TextWriter(text)
            writer.append(policyParts[0])
            let nonce = writer.next(nonceLength)
            writeNonce(nonce)
            writer.append(policyParts[1])
            writer.append(nonce)
            writer.append(policyParts[2])
            return writer.count
        }
    }
}

/// Per-request nonces for the Content-Security-Policy.
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
        let storage = request.storage
        // Most responses are not pages: `contains` answers those without the dynamic cast in `get`, which
        // looks up generic metadata (measured with perf in bench/SecurityBench's in-process mode).
        return storage.contains(Key.self) ? storage[Key.self] : nil
    }
}

extension Request {
    /// This request's CSP nonce, drawn on first use; templates put it on inline `<script nonce>` and
    /// `<style nonce>` tags, and ``SecurityHeadersMiddleware`` puts the same one in the response's policy.
    /// Drawn lazily because storing a value in a request copies its storage, and most responses are not pages.
    public var cspNonce: String {
        if let nonce = CSPNonce.drawn(for: self) { return nonce }
        let nonce = CSPNonce.make()
        storage[CSPNonce.Key.self] = nonce
        return nonce
    }
}
