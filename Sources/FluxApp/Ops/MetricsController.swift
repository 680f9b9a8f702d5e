import FluxSecurity
import Vapor
import NIOCore

/// `GET /metrics` in Prometheus text. With METRICS_TOKEN set it needs `Authorization: Bearer <token>`.
/// Without one, production answers nobody, and elsewhere only a client connected from the loopback interface
/// whose request no proxy relayed: behind a proxy on the same host every visitor's peer is loopback.
struct MetricsController: RouteCollection {
    let metrics: HTTPMetrics
    let token: SecretValue?
    let environment: AppConfig.Environment

    func boot(routes: any RoutesBuilder) throws {
        routes.get("metrics", use: scrape)
    }

    @Sendable
    func scrape(req: Request) async throws -> Response {
        try authorize(req)
        if let backlog = try? await Outbox.backlog(on: req.db) {
            metrics.outbox(pending: backlog.pending, oldestPendingAge: backlog.oldestPendingAge, failed: backlog.failed)
        }
        var headers = HTTPHeaders()
        headers.contentType = HTTPMediaType(type: "text", subType: "plain", parameters: ["version": "0.0.4", "charset": "utf-8"])
        headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return Response(status: .ok, headers: headers, body: .init(string: metrics.exposition()))
    }

    private func authorize(_ req: Request) throws {
        if let token {
            // Constant time: the comparison must not reveal how much of a guessed token was right.
            guard let presented = req.headers.bearerToken,
                ConstantTimeComparison.equals(presented, token.value)
            else {
                throw AppError(.unauthorized, code: "unauthorized", message: "A valid metrics token is required.",
                               headers: ["WWW-Authenticate": "Bearer"])
            }
            return
        }
        guard environment != .production else {
            throw AppError.forbidden("Metrics need METRICS_TOKEN in production.")
        }
        // The direct peer, never X-Forwarded-For: a forwarded address is whatever the client wrote.
        guard let peer = req.remoteAddress, Self.isLoopback(peer), !Self.isRelayed(req) else {
            throw AppError.forbidden("Metrics are served to loopback clients only unless METRICS_TOKEN is set.")
        }
    }

    /// A request a proxy passed on (it names the client it came from): its loopback peer is the proxy, not
    /// the client. A local client that sends these headers itself only refuses itself.
    static func isRelayed(_ req: Request) -> Bool {
        ["X-Forwarded-For", "Forwarded", "X-Real-IP"].contains { req.headers.contains(name: $0) }
    }

    /// A local peer: a loopback address (IPv4-mapped included) or a Unix socket.
    static func isLoopback(_ address: SocketAddress) -> Bool {
        if case .unixDomainSocket = address { return true }
        return address.ipAddress.flatMap { IPAddress($0) }?.isLoopback ?? false
    }
}
