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
    /// surrounding quotes removed, as Vapor's `request.cookies` reads it.
    public func read(_ base: String, from request: Request) -> String? {
        request.cookies[name(base, for: request)]?.string
    }
}
