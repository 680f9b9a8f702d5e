import Logging

/// Where the connection guard reports: /metrics counters and the structured log.
struct ConnectionEvents: Sendable {
    let metrics: HTTPMetrics?
    let logger: Logger

    func closed(_ reason: ConnectionDeadlines.Reason) {
        metrics?.connectionClosed(reason: reason.rawValue)
    }

    func refused(_ reason: String) {
        metrics?.connectionRefused(reason: reason)
    }

    func open(_ count: Int) {
        metrics?.connectionsOpen(count)
    }
}
