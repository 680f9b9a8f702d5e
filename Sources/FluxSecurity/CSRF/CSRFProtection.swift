import Crypto
import Vapor

/// Double-submit CSRF protection for cookie-carrying clients.
///
/// `GET` the token (``response(for:)``): it comes back in the JSON body and as an HttpOnly cookie. Requests
/// with unsafe methods then send it in `X-CSRF-Token`; ``CSRFMiddleware`` checks that header and cookie match, that the
/// HMAC is valid and that the token has not expired. A token is `version ‖ key id ‖ 128-bit nonce ‖ expiry ‖
/// HMAC-SHA256`, the MAC keyed by a key derived for CSRF alone and covering the signed-in session when there
/// is one, so a token minted for one session is refused in another. After a secret rotation, tokens signed
/// with a previous secret (`previousKeys`) stay valid until they expire; new ones use the current secret.
///
/// It does not stop a script running on the site's own origin (XSS reads the token like the page does), and
/// without `sessionBinding` a token is bound to no one: any visitor's valid pair works for that visitor.
public struct CSRFProtection: Sendable {
    /// The request header that carries the token.
    public static let headerName = "X-CSRF-Token"
    /// The cookie's base name (`__Host-csrf` over HTTPS, ``CookiePolicy``).
    public static let cookieName = "csrf"
    /// The `Route.userInfo` key that exempts that one route from ``CSRFMiddleware``, its value (a `String`) saying
    /// why. Only for a POST that another site makes and that can carry no token (an identity provider's
    /// `form_post` answer); such a route must act on nothing but what it checks itself.
    public static let exemptRouteKey = "flux-security.csrf-exempt"
    private static let version: UInt8 = 2
    private static let payloadLength = 1 + 4 + 16 + 8
    private static let encodedLength = 82  // base64url of 29 + 32 bytes

    private let currentKeyID: [UInt8]
    /// An HMAC keyed with the CSRF key of each accepted secret, by key id, the current one first; each use
    /// starts from a copy, so the key is processed once. A list, not a dictionary: there are one or two.
    private let keyedMACs: [(id: [UInt8], mac: HMAC<SHA256>)]
    /// How long an issued token stays valid, in seconds.
    public let lifetime: TimeInterval
    public let cookies: CookiePolicy
    private let sessionBinding: @Sendable (Request) -> String?

    /// - Parameters:
    ///   - keys: the current secret's keys; new tokens are signed with them.
    ///   - previousKeys: secrets rotated out, still accepted for the tokens they signed.
    ///   - lifetime: seconds a token stays valid.
    ///   - sessionBinding: the signed-in session's id for a request, `nil` for anonymous visitors.
    public init(keys: SecretKeys, previousKeys: [SecretKeys] = [], cookies: CookiePolicy = CookiePolicy(),
                lifetime: TimeInterval = 3600, sessionBinding: @escaping @Sendable (Request) -> String? = { _ in nil }) {
        currentKeyID = keys.id
        var accepted: [(id: [UInt8], mac: HMAC<SHA256>)] = []
        for secret in [keys] + previousKeys where !accepted.contains(where: { $0.id == secret.id }) {
            accepted.append((secret.id, HMAC<SHA256>(key: secret.key(for: "csrf"))))
        }
        keyedMACs = accepted
        self.lifetime = lifetime
        self.cookies = cookies
        self.sessionBinding = sessionBinding
    }

    /// A token and when it expires, as ``response(for:)`` sends them.
    public struct IssuedToken: Content, Sendable {
        public let token: String
        public let expiresAt: Date
    }

    /// A fresh token for `request`, bound to its session (if any) and valid for ``lifetime`` from `now`.
    public func issue(for request: Request, now: Date = Date()) -> IssuedToken {
        let expiresAt = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + lifetime).rounded(.down))
        let expiry = UInt64(expiresAt.timeIntervalSince1970)
        // SymmetricKey is swift-crypto's source of random bytes; it lends them only through withUnsafeBytes.
        let nonce = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        let payload = [Self.version] + currentKeyID + nonce + (0..<8).reversed().map { UInt8(truncatingIfNeeded: expiry >> ($0 * 8)) }
        let tag = Self.code(keyedMACs[0].mac, payload, binding: sessionBinding(request))
        return IssuedToken(token: Base64URL.encode(payload + tag), expiresAt: expiresAt)
    }

    /// The `GET /api/csrf` answer: `{"token","expiresAt"}`, the same token as a cookie, never cached.
    ///
    /// A request whose cookie already holds a valid token for its session, with more than half its lifetime left, gets
    /// that token back: the cookie is shared by every tab of a browser, and a fresh token per call would let one tab's
    /// fetch invalidate the token another tab is about to send.
    public func response(for request: Request, now: Date = Date()) throws -> Response {
        let issued = current(for: request, now: now) ?? issue(for: request, now: now)
        let response = Response(status: .ok)
        try response.content.encode(issued, using: Self.encoder)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        cookies.set(Self.cookieName, value: issued.token, maxAge: Int(lifetime), sameSite: .strict,
                    on: response, for: request)
        return response
    }

    /// The cookie's token when it is valid for `request`'s session and has more than half its lifetime left.
    private func current(for request: Request, now: Date) -> IssuedToken? {
        guard let cookie = cookies.read(Self.cookieName, from: request), cookie.utf8.count == Self.encodedLength,
            let expiry = signedExpiry(of: cookie, binding: sessionBinding(request)),
            Double(expiry) > now.timeIntervalSince1970 + lifetime / 2
        else { return nil }
        return IssuedToken(token: cookie, expiresAt: Date(timeIntervalSince1970: Double(expiry)))
    }

    /// Throws `403 csrf_failed` unless `request` carries a matching, valid, unexpired token pair.
    public func verify(_ request: Request, now: Date = Date()) throws {
        guard let header = request.headers.first(name: Self.headerName), header.utf8.count == Self.encodedLength,
            let cookie = cookies.read(Self.cookieName, from: request), ConstantTimeComparison.equals(header, cookie),
            let expiry = signedExpiry(of: header, binding: sessionBinding(request)), Double(expiry) > now.timeIntervalSince1970
        else { throw Self.failure }
    }

    /// The expiry `token` carries when it is well formed and its MAC is valid for `binding`.
    private func signedExpiry(of token: String, binding: String?) -> UInt64? {
        guard let bytes = Base64URL.decode(token), bytes.count == Self.payloadLength + 32, bytes[0] == Self.version,
            let mac = keyedMACs.first(where: { $0.id.elementsEqual(bytes[1..<5]) })?.mac,
            // swift-crypto's == between a code and bytes compares in constant time.
            Self.code(mac, bytes[..<Self.payloadLength], binding: binding) == bytes[Self.payloadLength...]
        else { return nil }
        return bytes[21..<Self.payloadLength].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The middleware that calls ``verify(_:now:)`` on unsafe methods.
    public var middleware: CSRFMiddleware { CSRFMiddleware(protection: self) }

    /// The code of the payload, a zero byte (so "payload + binding" is unambiguous) and the binding.
    private static func code(_ keyed: HMAC<SHA256>, _ payload: some Sequence<UInt8>, binding: String?) -> HMAC<SHA256>.MAC {
        var mac = keyed
        mac.update(data: Array(payload) + [0] + Array((binding ?? "").utf8))
        return mac.finalize()
    }

    private static let failure = SecurityFailure(.forbidden, code: "csrf_failed",
                                                 reason: "The CSRF token is missing, invalid or expired. Fetch a new one from GET /api/csrf.")

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}

/// Enforces ``CSRFProtection`` on POST, PUT, PATCH and DELETE (every method but GET, HEAD, OPTIONS, TRACE).
/// A request with `Authorization: Bearer` and no cookie at all is exempt: nothing ambient authenticates it,
/// so a forged cross-site request could not carry its credentials. So is a route marked with
/// ``CSRFProtection/exemptRouteKey``. Safe methods are not checked: a GET handler that changes state is open to forgery.
public struct CSRFMiddleware: Middleware {
    let protection: CSRFProtection

    /// Responds through `next` when the request is exempt or its token pair verifies; else `403 csrf_failed`.
    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        switch request.method {
        case .GET, .HEAD, .OPTIONS, .TRACE:
            break
        default:
            let exempt = request.route?.userInfo[CSRFProtection.exemptRouteKey] is String
            if !exempt, request.headers.bearerToken == nil || request.headers.contains(name: .cookie) {
                do {
                    try protection.verify(request)
                } catch {
                    return request.eventLoop.makeFailedFuture(error)
                }
            }
        }
        return next.respond(to: request)
    }
}
