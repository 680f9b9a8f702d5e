import Crypto
import Vapor

/// Double-submit CSRF protection for cookie-carrying clients.
///
/// `GET` the token (``response(for:)``): it comes back in the JSON body and as an HttpOnly cookie. Unsafe
/// requests then send it in `X-CSRF-Token`; ``CSRFMiddleware`` checks that header and cookie match, that the
/// HMAC is valid and that the token has not expired. A token is `version ‖ key id ‖ 128-bit nonce ‖ expiry ‖
/// HMAC-SHA256`, the MAC keyed by a key derived for CSRF alone and covering the signed-in session when there
/// is one, so a token minted for one session is refused in another. After a secret rotation, tokens signed
/// with a previous secret (`previousKeys`) stay valid until they expire; new ones use the current secret.
public struct CSRFProtection: Sendable {
    public static let headerName = "X-CSRF-Token"
    public static let cookieName = "csrf"
    private static let version: UInt8 = 2
    private static let payloadLength = 1 + 4 + 16 + 8
    private static let encodedLength = 82  // base64url of 29 + 32 bytes

    /// The current key id and, per accepted key id (as a number), its CSRF key. A list, not a dictionary:
    /// there are one or two.
    private let currentKeyID: [UInt8]
    private let keys: [(id: UInt32, key: SymmetricKey)]
    public let lifetime: TimeInterval
    public let cookies: CookiePolicy
    private let sessionBinding: @Sendable (Request) -> String?

    /// - Parameters:
    ///   - sessionBinding: the signed-in session's id for a request, `nil` for anonymous visitors.
    public init(keys: SecretKeys, previousKeys: [SecretKeys] = [], cookies: CookiePolicy = CookiePolicy(),
                lifetime: TimeInterval = 3600, sessionBinding: @escaping @Sendable (Request) -> String? = { _ in nil }) {
        currentKeyID = keys.id
        var accepted: [(id: UInt32, key: SymmetricKey)] = []
        for secret in [keys] + previousKeys where !accepted.contains(where: { $0.id == Self.number(secret.id) }) {
            accepted.append((Self.number(secret.id), secret.key(for: "csrf")))
        }
        self.keys = accepted
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
        var payload = [Self.version] + currentKeyID
        payload += SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        payload += withUnsafeBytes(of: UInt64(expiresAt.timeIntervalSince1970).bigEndian) { Array($0) }
        let tag = payload.withUnsafeBufferPointer { mac($0, keyID: Self.number(currentKeyID), binding: sessionBinding(request)) }!
        payload += tag
        return IssuedToken(token: Base64URL.encode(payload), expiresAt: expiresAt)
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
        try verify(request, headers: request.headers, now: now)
    }

    /// ``verify(_:now:)`` with the request's headers already read: each read of `request.headers` takes the
    /// request's lock and copies the list.
    func verify(_ request: Request, headers: HTTPHeaders, now: Date = Date()) throws {
        guard var header = headers.first(name: Self.headerName), header.utf8.count == Self.encodedLength
        else { throw Self.failure }
        // Header and cookie are compared where they lie, without copies: this runs on every unsafe request.
        let expiry: UInt64? = header.withUTF8 { token in
            cookies.withValue(Self.cookieName, from: request, headers: headers) { cookie in
                guard let cookie, ConstantTimeComparison.equals(token, cookie) else { return nil }
                return signedExpiry(of: token, binding: sessionBinding(request))
            }
        }
        guard let expiry, Double(expiry) > now.timeIntervalSince1970 else { throw Self.failure }
    }

    /// The expiry `token` carries when it is well formed and its MAC is valid for `binding`; decoded onto the
    /// stack.
    private func signedExpiry(of token: UnsafeBufferPointer<UInt8>, binding: String?) -> UInt64? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.payloadLength + 32) { bytes in
            guard Base64URL.decode(token, into: bytes), bytes[0] == Self.version,
                let expected = mac(UnsafeBufferPointer(rebasing: bytes[..<Self.payloadLength]), keyID: Self.number(bytes[1..<5]), binding: binding),
                expected.withUnsafeBytes({ ConstantTimeComparison.equals($0, bytes[Self.payloadLength...]) })
            else { return nil }
            return Self.number(bytes[21..<Self.payloadLength])
        }
    }

    /// The middleware that calls ``verify(_:now:)`` on unsafe methods.
    public var middleware: CSRFMiddleware { CSRFMiddleware(protection: self) }

    /// HMAC, under the key `keyID` names, over the payload, a zero byte (so "payload + binding" is
    /// unambiguous) and the session binding; `nil` for a key this server does not hold.
    private func mac(_ payload: UnsafeBufferPointer<UInt8>, keyID: UInt32, binding: String?) -> HMAC<SHA256>.MAC? {
        guard let key = keys.first(where: { $0.id == keyID })?.key else { return nil }
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: UnsafeRawBufferPointer(payload))
        mac.update(data: [0])
        mac.update(data: Data((binding ?? "").utf8))
        return mac.finalize()
    }

    /// Big-endian `bytes` as a number: a key id (4 bytes) or an expiry (8).
    private static func number<Number: FixedWidthInteger & UnsignedInteger>(_ bytes: some Collection<UInt8>) -> Number {
        bytes.reduce(0) { $0 << 8 | Number($1) }
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
public struct CSRFMiddleware: Middleware {
    let protection: CSRFProtection

    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        switch request.method {
        case .GET, .HEAD, .OPTIONS, .TRACE:
            break
        default:
            // Read once for both the exemption and the check: each `request.headers` takes the request's lock.
            let headers = request.headers
            if headers.bearerToken == nil || headers.contains(name: .cookie) {
                do {
                    try protection.verify(request, headers: headers)
                } catch {
                    return request.eventLoop.makeFailedFuture(error)
                }
            }
        }
        return next.respond(to: request)
    }
}
