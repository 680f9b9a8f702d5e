import Vapor

/// How FluxSecurity sets and reads its cookies: always HttpOnly, SameSite=Lax unless asked otherwise, and on
/// HTTPS both Secure and `__Host-`-prefixed (no Domain, Path=/), which stops a sibling subdomain or a
/// plain-HTTP response from planting a cookie of the same name.
public struct CookiePolicy: Sendable {
    public let trustedProxies: TrustedProxies

    public init(trustedProxies: TrustedProxies = TrustedProxies()) {
        self.trustedProxies = trustedProxies
    }

    /// The name this request's scheme gives the cookie `base`.
    public func name(_ base: String, for request: Request) -> String {
        trustedProxies.isHTTPS(request) ? "__Host-" + base : base
    }

    /// Sets cookie `base` on `response`.
    public func set(_ base: String, value: String, maxAge: Int?, sameSite: HTTPCookies.SameSitePolicy = .lax,
                    on response: Response, for request: Request) {
        let secure = trustedProxies.isHTTPS(request)
        response.cookies[name(base, for: request)] = HTTPCookies.Value(
            string: value, expires: maxAge.map { Date().addingTimeInterval(TimeInterval($0)) }, maxAge: maxAge,
            domain: nil, path: "/", isSecure: secure, isHTTPOnly: true, sameSite: sameSite)
    }

    /// The value of cookie `base` as this request's scheme names it (only the `__Host-` form over HTTPS).
    /// Reads the one cookie straight from the header rather than parsing every cookie, as it runs on every
    /// unsafe request.
    public func read(_ base: String, from request: Request) -> String? {
        var wanted = name(base, for: request)
        return wanted.withUTF8 { wanted in
            for var header in request.headers[.cookie] {
                if let value = header.withUTF8({ Self.value(named: wanted, in: $0) }) { return value }
            }
            return nil
        }
    }

    /// The value of the first cookie called `wanted` in one `Cookie` header, surrounding quotes removed.
    private static func value(named wanted: UnsafeBufferPointer<UInt8>, in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
            var nameStart = start
            while nameStart < end, bytes[nameStart] == UInt8(ascii: " ") { nameStart += 1 }
            let equals = nameStart + wanted.count
            if equals < end, bytes[equals] == UInt8(ascii: "="), bytes[nameStart..<equals].elementsEqual(wanted) {
                var value = bytes[(equals + 1)..<end]
                if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                    value = value.dropFirst().dropLast()
                }
                return String(decoding: value, as: UTF8.self)
            }
            start = end + 1
        }
        return nil
    }
}
