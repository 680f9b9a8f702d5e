import Fluent
import SQLKit
import Vapor
import NIOCore

/// One real round trip (`SELECT 1`) to the database, bounded in time so a dead or unreachable database
/// yields an answer instead of a hang. Used by `/api/health` and `flux doctor`.
enum DatabaseProbe {
    enum Outcome: Sendable {
        case up(latency: Duration)
        case down(reason: String)
    }

    struct TimedOut: Error, CustomStringConvertible {
        let limit: TimeAmount
        var description: String { "no answer within \(limit.nanoseconds / 1_000_000) ms" }
    }

    static func ping(_ database: any Database, timeout: TimeAmount) async -> Outcome {
        guard let sql = database as? any SQLDatabase else { return .down(reason: "not an SQL database") }
        let started = ContinuousClock.now
        // The query's future cannot be cancelled, so it races a timer on one promise: whichever completes
        // first wins and the other completion is ignored by NIO.
        let promise = database.eventLoop.makePromise(of: Void.self)
        let timer = database.eventLoop.scheduleTask(in: timeout) { promise.fail(TimedOut(limit: timeout)) }
        sql.raw("SELECT 1").run().cascade(to: promise)
        do {
            try await promise.futureResult.get()
            timer.cancel()
            return .up(latency: ContinuousClock.now - started)
        } catch {
            timer.cancel()
            return .down(reason: String(describing: error))
        }
    }
}
