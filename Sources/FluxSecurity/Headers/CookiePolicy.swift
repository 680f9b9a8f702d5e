import Vapor

/// How FluxSecurity sets and reads its cookies: always HttpOnly, SameSite=Lax unless asked otherwise, and on
/// HTTPS both Secure and `__Host-`-prefixed (no Domain, Path=/), which stops a sibling subdomain or a
/// plain-HTTP response from planting a cookie of the same name.
///
/// Over plain HTTP none of that prefix protection exists: the cookie can be read and planted by anyone on
/// the network. The values are stored as given, neither signed nor encrypted.
public struct CookiePolicy: Sendable {
    public let trustedProxies: TrustedProxies

    /// - Parameter trustedProxies: whose `X-Forwarded-Proto` decides whether a request was HTTPS.
    public init(trustedProxies: TrustedProxies = TrustedProxies()) {
        self.trustedProxies = trustedProxies
    }

    /// The name this request's scheme gives the cookie `base`.
    public func name(_ base: String, for request: Request) -> String {
        trustedProxies.isHTTPS(request) ? "__Host-" + base : base
    }

    /// Sets cookie `base` on `response`, for `maxAge` seconds (`nil`: for the browser session).
    public func set(_ base: String, value: String, maxAge: Int?, sameSite: HTTPCookies.SameSitePolicy = .lax,
                    on response: Response, for request: Request) {
        let secure = trustedProxies.isHTTPS(request)
        response.cookies[name(base, for: request)] = HTTPCookies.Value(
            string: value, expires: maxAge.map { Date().addingTimeInterval(TimeInterval($0)) }, maxAge: maxAge,
            domain: nil, path: "/", isSecure: secure, isHTTPOnly: true, sameSite: sameSite)
    }

    /// The value of cookie `base` as this request's scheme names it (only the `__Host-` form over HTTPS),
    /// surrounding quotes removed; the first one when several `Cookie` fields or pairs carry the name.
    public func read(_ base: String, from request: Request) -> String? {
        // Only the one cookie is looked for: Vapor's `request.cookies` parses every pair Character by Character,
        // which a profile of the CSRF check (run on every unsafe request) showed as most of its cost.
        let wanted = name(base, for: request).utf8
        for field in request.headers[.cookie] {
            for pair in field.utf8.split(separator: UInt8(ascii: ";")) {
                let pair = pair.drop { $0 == UInt8(ascii: " ") }
                guard pair.starts(with: wanted), pair.dropFirst(wanted.count).first == UInt8(ascii: "=") else { continue }
                var value = pair.dropFirst(wanted.count + 1)
                if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                    value = value.dropFirst().dropLast()
                }
                return String(decoding: value, as: UTF8.self)
            }
        }
        return nil
    }
}
