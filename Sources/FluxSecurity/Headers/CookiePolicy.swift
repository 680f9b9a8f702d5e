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
        withValue(base, from: request, headers: request.headers) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Calls `body` with the bytes of cookie `base`'s value where they lie in the `Cookie` header (surrounding
    /// quotes removed), or with `nil` when the request has no such cookie: the CSRF check compares them
    /// without copying them into a string first. `headers` are the request's, read once by the caller.
    func withValue<Result>(_ base: String, from request: Request, headers: HTTPHeaders,
                           _ body: (UnsafeBufferPointer<UInt8>?) -> Result) -> Result {
        var wanted = name(base, for: request)
        return wanted.withUTF8 { wanted in
            // Walks the fields rather than asking for `headers[.cookie]`, which gathers them into a new array.
            for (name, var header) in headers where name.utf8.spells(ignoringCase: "cookie") {
                let found: Result? = header.withUTF8 { bytes in
                    Self.range(named: wanted, in: bytes).map { body(UnsafeBufferPointer(rebasing: bytes[$0])) }
                }
                if let found { return found }
            }
            return body(nil)
        }
    }

    /// Where the value of the first cookie called `wanted` lies in one `Cookie` header, surrounding quotes
    /// left out.
    private static func range(named wanted: UnsafeBufferPointer<UInt8>, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
            var nameStart = start
            while nameStart < end, bytes[nameStart] == UInt8(ascii: " ") { nameStart += 1 }
            let equals = nameStart + wanted.count
            if equals < end, bytes[equals] == UInt8(ascii: "="), bytes[nameStart..<equals].elementsEqual(wanted) {
                let value = (equals + 1)..<end
                if value.count >= 2, bytes[value.lowerBound] == UInt8(ascii: "\""), bytes[value.upperBound - 1] == UInt8(ascii: "\"") {
                    return (value.lowerBound + 1)..<(value.upperBound - 1)
                }
                return value
            }
            start = end + 1
        }
        return nil
    }
}
