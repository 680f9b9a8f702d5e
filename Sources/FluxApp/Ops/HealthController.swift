import Fluent
import Vapor
import NIOCore

/// `GET /api/health` (readiness: the database answers; the file store's state alongside) and
/// `GET /api/health/live` (the process answers).
struct HealthController: RouteCollection {
    /// Half the 1 s a load balancer or monitor is promised an answer in, leaving room for a loaded machine.
    static let databaseTimeout: TimeAmount = .milliseconds(500)
    /// The same for the file store, asked at the same time.
    static let storageTimeout: TimeAmount = .milliseconds(500)

    /// Where public uploads are counted against their quota and free-space floor.
    let uploads: UploadCapacity
    /// Where stored files live. Its being down refuses uploads and downloads (503) but leaves the replica
    /// ready: pages, chat and everything else still work.
    let store: any BlobStore

    struct Readiness: Content {
        let ok: Bool
        let db: String
        let latencyMs: Int?
        /// `accepting`, or `full` when public uploads answer 507 (quota reached or disk below its floor);
        /// absent when the database is down. Uploads being full does not make the replica unready.
        let uploads: String?
        /// `up`, or `down` when the file store does not answer (or refuses this instance's credentials).
        let storage: String
        let ts: Date
    }

    struct Liveness: Content {
        let ok: Bool
        let ts: Date
    }

    func boot(routes: any RoutesBuilder) throws {
        let health = routes.grouped("api", "health")
        health.get(use: readiness)
        health.get("live", use: liveness)
    }

    @Sendable
    func readiness(req: Request) async throws -> Response {
        async let storageUp = (try? await store.checkReachable(within: Self.storageTimeout)) != nil
        let outcome = await DatabaseProbe.ping(req.db, timeout: Self.databaseTimeout)
        let storage = await storageUp ? "up" : "down"
        let body: Readiness
        let status: HTTPResponseStatus
        switch outcome {
        case .up(let latency):
            let accepting = (try? await uploads.status(on: req.db).accepting) ?? true
            body = Readiness(ok: true, db: "up", latencyMs: Int(latency / .milliseconds(1)), uploads: accepting ? "accepting" : "full",
                             storage: storage, ts: Date())
            status = .ok
        case .down(let reason):
            req.logger.warning("health check: database down", metadata: ["reason": .string(reason)])
            body = Readiness(ok: false, db: "down", latencyMs: nil, uploads: nil, storage: storage, ts: Date())
            status = .serviceUnavailable
        }
        let response = Response(status: status)
        try response.content.encode(body)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    @Sendable
    func liveness(req: Request) async throws -> Liveness {
        Liveness(ok: true, ts: Date())
    }
}
