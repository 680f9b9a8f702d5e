import Crypto
import Vapor

/// Double-submit CSRF protection for cookie-carrying clients.
///
/// `GET` the token (``response(for:)``): it comes back in the JSON body and as an HttpOnly cookie. Unsafe
/// requests then send it in `X-CSRF-Token`; ``CSRFMiddleware`` checks that header and cookie match, that the
/// HMAC is valid and that the token has not expired. A token is `version ‖ 128-bit nonce ‖ expiry ‖
/// HMAC-SHA256`, the MAC keyed by a key derived for CSRF alone and covering the signed-in session when there
/// is one, so a token minted for one session is refused in another.
public struct CSRFProtection: Sendable {
    public static let headerName = "X-CSRF-Token"
    public static let cookieName = "csrf"
    private static let version: UInt8 = 1
    private static let encodedLength = 76  // base64url of 1 + 16 + 8 + 32 bytes

    private let key: SymmetricKey
    public let lifetime: TimeInterval
    public let cookies: CookiePolicy
    private let sessionBinding: @Sendable (Request) -> String?

    /// - Parameters:
    ///   - sessionBinding: the signed-in session's id for a request, `nil` for anonymous visitors.
    public init(keys: SecretKeys, cookies: CookiePolicy = CookiePolicy(), lifetime: TimeInterval = 3600,
                sessionBinding: @escaping @Sendable (Request) -> String? = { _ in nil }) {
        key = keys.key(for: "csrf")
        self.lifetime = lifetime
        self.cookies = cookies
        self.sessionBinding = sessionBinding
    }

    public struct IssuedToken: Content, Sendable {
        public let token: String
        public let expiresAt: Date
    }

    /// A fresh token for `request`.
    public func issue(for request: Request, now: Date = Date()) -> IssuedToken {
        let expiresAt = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + lifetime).rounded(.down))
        var payload = [Self.version]
        payload += SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        payload += withUnsafeBytes(of: UInt64(expiresAt.timeIntervalSince1970).bigEndian) { Array($0) }
        payload += mac(payload, binding: sessionBinding(request))
        return IssuedToken(token: Data(payload).base64URLEncodedString(), expiresAt: expiresAt)
    }

    /// The `GET /api/csrf` answer: `{"token","expiresAt"}`, the same token as a cookie, never cached.
    public func response(for request: Request) throws -> Response {
        let issued = issue(for: request)
        let response = Response(status: .ok)
        try response.content.encode(issued, using: Self.encoder)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        cookies.set(Self.cookieName, value: issued.token, maxAge: Int(lifetime), sameSite: .strict,
                    on: response, for: request)
        return response
    }

    /// Throws `403 csrf_failed` unless `request` carries a matching, valid, unexpired token pair.
    public func verify(_ request: Request, now: Date = Date()) throws {
        guard let header = request.headers.first(name: Self.headerName),
            let cookie = cookies.read(Self.cookieName, from: request),
            header.utf8.count == Self.encodedLength, cookie.utf8.count == Self.encodedLength,
            ConstantTimeComparison.equals(header, cookie),
            let bytes = Data(base64URLEncoded: header), bytes.count == 57, bytes.first == Self.version
        else { throw Self.failure }
        let payload = bytes.prefix(25)
        guard HMAC<SHA256>.isValidAuthenticationCode(bytes.suffix(32), authenticating: Self.signed(payload, sessionBinding(request)),
                                                     using: key)
        else { throw Self.failure }
        let expiry = payload.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard Double(expiry) > now.timeIntervalSince1970 else { throw Self.failure }
    }

    /// The middleware that calls ``verify(_:now:)`` on unsafe methods.
    public var middleware: CSRFMiddleware { CSRFMiddleware(protection: self) }

    private func mac(_ payload: [UInt8], binding: String?) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.signed(payload, binding), using: key))
    }

    private static func signed(_ payload: some Sequence<UInt8>, _ binding: String?) -> Data {
        // A separator byte keeps "payload + binding" unambiguous.
        Data(payload) + [0] + Data((binding ?? "").utf8)
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
/// so a forged cross-site request could not carry its credentials.
public struct CSRFMiddleware: AsyncMiddleware {
    let protection: CSRFProtection
    private static let safeMethods: [HTTPMethod] = [.GET, .HEAD, .OPTIONS, .TRACE]

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let exempt = Self.safeMethods.contains(request.method)
            || (request.headers.bearerAuthorization != nil && !request.headers.contains(name: .cookie))
        if !exempt { try protection.verify(request) }
        return try await next.respond(to: request)
    }
}

extension Data {
    init?(base64URLEncoded text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard base64.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/") }) else { return nil }
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }

    func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
