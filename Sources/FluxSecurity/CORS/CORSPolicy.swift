import Vapor

/// Cross-origin access from an explicit list of origins. `*` is accepted only without credentials, and
/// that combination is refused at construction: a wildcard that also sends cookies would let any site
/// read signed-in responses. The policy only tells browsers which pages may read responses; clients that
/// are not browsers ignore it.
public struct CORSPolicy: Sendable {
    /// The origins allowed: a list, or any origin (only without credentials).
    public enum Origins: Sendable, Equatable {
        case list(Set<String>)
        case any
    }

    public let origins: Origins
    public let allowCredentials: Bool
    public let allowedMethods: [HTTPMethod]
    public let allowedHeaders: [String]
    /// Seconds a browser may cache a preflight answer.
    public let maxAge: Int

    /// Why a policy could not be built: a wildcard with credentials or next to other origins, or an entry
    /// that is not an origin.
    public struct InvalidConfiguration: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// A policy for `origins`; throws rather than build one that would expose signed-in responses.
    ///
    /// - Parameter origins: each `scheme://host[:port]`, or the single entry `*`.
    public init(origins: [String], allowCredentials: Bool = true,
                allowedMethods: [HTTPMethod] = [.GET, .POST, .PUT, .PATCH, .DELETE],
                allowedHeaders: [String] = ["Content-Type", "Authorization", "X-CSRF-Token", "X-Request-Id"],
                maxAge: Int = 600) throws(InvalidConfiguration) {
        if origins.contains("*") {
            guard origins.count == 1 else { throw InvalidConfiguration(description: "`*` cannot be combined with other origins") }
            guard !allowCredentials else {
                throw InvalidConfiguration(description: "`*` cannot be allowed with credentials; list the origins explicitly")
            }
            self.origins = .any
        } else {
            var normalized = Set<String>()
            for origin in origins {
                guard let canonical = Self.canonicalOrigin(origin) else {
                    throw InvalidConfiguration(description: "\"\(origin)\" is not an origin (scheme://host[:port], no path)")
                }
                normalized.insert(canonical)
            }
            self.origins = .list(normalized)
        }
        self.allowCredentials = allowCredentials
        self.allowedMethods = allowedMethods
        self.allowedHeaders = allowedHeaders
        self.maxAge = maxAge
    }

    /// Whether a request from `origin` may read responses.
    public func allows(_ origin: String) -> Bool {
        switch origins {
        case .any: true
        // Browsers send origins in canonical form; parsing is only for the odd spelling.
        case .list(let list): list.contains(origin) || (Self.canonicalOrigin(origin).map(list.contains) ?? false)
        }
    }

    /// `text` as a browser writes an origin (lower-case scheme and host, default port left out), or `nil`
    /// when it is not an http(s) origin. Also what a WebSocket upgrade's `Origin` is compared with.
    public static func canonicalOrigin(_ text: String) -> String? {
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
            let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host?.lowercased(), !host.isEmpty,
            components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil,
            components.user == nil
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        let port = components.port.flatMap { $0 == defaultPort ? nil : ":\($0)" } ?? ""
        return "\(scheme)://\(host)\(port)"
    }

    /// The middleware that applies this policy.
    public var middleware: CORSMiddleware { CORSMiddleware(policy: self) }
}

/// Answers preflights and adds CORS headers for allowed origins. A disallowed origin gets no CORS
/// header at all, so the browser withholds the response from the calling page. CORS only tells browsers
/// what a page may read: it refuses no request, so a state change still needs CSRF protection.
///
/// Install it outside the error middleware: an error turned into a response inside it then carries the
/// headers too, and the calling page can read why its request was refused.
public struct CORSMiddleware: Middleware {
    let policy: CORSPolicy

    /// Answers a preflight itself; adds the CORS headers to any other response with an `Origin`.
    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        guard let origin = request.headers.first(name: .origin) else {
            return next.respond(to: request)
        }
        let allowed = policy.allows(origin)
        if request.method == .OPTIONS, request.headers.contains(name: .accessControlRequestMethod) {
            var headers: HTTPHeaders = [:]
            headers.add(name: .vary, value: "Origin")
            if allowed {
                addOriginHeaders(origin, to: &headers)
                headers.add(name: .accessControlAllowMethods, value: policy.allowedMethods.map(\.rawValue).joined(separator: ", "))
                headers.add(name: .accessControlAllowHeaders, value: policy.allowedHeaders.joined(separator: ", "))
                headers.add(name: .accessControlMaxAge, value: String(policy.maxAge))
            }
            return request.eventLoop.makeSucceededFuture(Response(status: .noContent, headers: headers))
        }
        return next.respond(to: request).map { response in
            response.updateHeaders { headers in
                headers.add(name: .vary, value: "Origin")
                if allowed { addOriginHeaders(origin, to: &headers) }
            }
            return response
        }
    }

    /// Sets the origin's fields, replacing any the route set.
    private func addOriginHeaders(_ origin: String, to headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: .accessControlAllowOrigin, value: policy.origins == .any ? "*" : origin)
        if policy.allowCredentials { headers.replaceOrAdd(name: .accessControlAllowCredentials, value: "true") }
        headers.replaceOrAdd(name: .accessControlExpose, value: "X-Request-Id, Retry-After, RateLimit, RateLimit-Policy")
    }
}
