import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// Request counts and durations by method, route pattern and status, plus process figures refreshed at
/// each scrape. One registry per application, so tests never share counters.
final class HTTPMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]
    // Built once, not per request. The type is an immutable struct of strings that swift-prometheus does not
    // mark Sendable, hence nonisolated(unsafe) on constants that are never written.
    private nonisolated(unsafe) static let requests =
        MetricNameDescriptor(metricName: "http_requests", unitName: "total", helpText: "HTTP requests served.")
    private nonisolated(unsafe) static let durations =
        MetricNameDescriptor(metricName: "http_request_duration", unitName: "seconds", helpText: "Time to produce the response.")
    private nonisolated(unsafe) static let telemetrySteps =
        MetricNameDescriptor(metricName: "flux_chat_telemetry_duration", unitName: "seconds",
                             helpText: "Time a FluxAI turn spent loading and recording its conversation, by step.")
    private nonisolated(unsafe) static let fanOut =
        MetricNameDescriptor(metricName: "flux_realtime_fanout_duration", unitName: "seconds",
                             helpText: "Time from a real-time event reaching this replica's hub until every subscribed socket has written it.")
    private nonisolated(unsafe) static let storageDurations =
        MetricNameDescriptor(metricName: "flux_storage_request_duration", unitName: "seconds",
                             helpText: "Time the S3 file store took to answer a request (to the head of a download), by operation.")
    private nonisolated(unsafe) static let storageErrors =
        MetricNameDescriptor(metricName: "flux_storage_errors", unitName: "total",
                             helpText: "S3 file store requests that failed, timed out or were refused, by operation.")
    // Finer around the portal's 20 ms fan-out target, so a miss says by how much.
    private static let fanOutBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(15), .milliseconds(17.5),
        .milliseconds(20), .milliseconds(22.5), .milliseconds(25), .milliseconds(30), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .seconds(1),
    ]
    private static let telemetryBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(100),
    ]
    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private let cpuSeconds: Gauge
    private let openFileDescriptors: Gauge
    private let startTime: Gauge
    private let telemetryFailures: Counter
    private let outboxPending: Gauge
    private let outboxOldestPending: Gauge
    private let outboxFailed: Gauge
    private let openConnections: Gauge

    init() {
        residentMemory = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "process_resident_memory", unitName: "bytes", helpText: "Resident memory size in bytes."))
        virtualMemory = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "process_virtual_memory", unitName: "bytes", helpText: "Virtual memory size in bytes."))
        cpuSeconds = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "process_cpu_seconds", unitName: "total", helpText: "User and system CPU time in seconds."))
        openFileDescriptors = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "process_open", unitName: "fds", helpText: "Open file descriptors."))
        startTime = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "process_start_time", unitName: "seconds", helpText: "Start time since the Unix epoch in seconds."))
        startTime.set(Date().timeIntervalSince1970)
        telemetryFailures = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "flux_chat_telemetry_failures", unitName: "total", helpText: "FluxAI turns answered without being recorded."))
        outboxPending = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "flux_outbox_pending", unitName: "messages", helpText: "Mail waiting in the outbox."))
        outboxOldestPending = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "flux_outbox_oldest_pending", unitName: "seconds", helpText: "Age of the oldest message waiting in the outbox."))
        openConnections = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "flux_connections", unitName: "open", helpText: "Client connections open now."))
        outboxFailed = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "flux_outbox_failed", unitName: "messages", helpText: "Mail given up on after every retry."))
    }

    func telemetryFailed() {
        telemetryFailures.increment()
    }

    func telemetryStep(_ step: String, took duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.telemetrySteps, labels: [("step", step)], buckets: Self.telemetryBuckets)
            .record(duration)
    }

    /// One request to the S3 store; `operation` is one of a fixed few (PUT, UploadPart, GET, ListObjectsV2…).
    func storageRequest(_ operation: String, took duration: Duration, failed: Bool) {
        registry.makeDurationHistogram(descriptor: Self.storageDurations, labels: [("operation", operation)], buckets: Self.buckets)
            .record(duration)
        if failed { registry.makeCounter(descriptor: Self.storageErrors, labels: [("operation", operation)]).increment() }
    }

    func realtimeFanOut(took duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.fanOut, buckets: Self.fanOutBuckets).record(duration)
    }

    /// The outbox's backlog as the database says it is now (set at each scrape).
    func outbox(pending: Int, oldestPendingAge: TimeInterval, failed: Int) {
        outboxPending.set(Double(pending))
        outboxOldestPending.set(oldestPendingAge)
        outboxFailed.set(Double(failed))
    }

    private nonisolated(unsafe) static let connectionsRefused =
        MetricNameDescriptor(metricName: "flux_connections_refused", unitName: "total",
                             helpText: "Connections closed as soon as accepted, by the cap they were past (per_address, total).")
    private nonisolated(unsafe) static let connectionsClosed =
        MetricNameDescriptor(metricName: "flux_connections_closed", unitName: "total",
                             helpText: "Connections closed by the server's deadlines or for a malformed request, by reason.")

    func connectionRefused(reason: String) {
        registry.makeCounter(descriptor: Self.connectionsRefused, labels: [("reason", reason)]).increment()
    }

    func connectionClosed(reason: String) {
        registry.makeCounter(descriptor: Self.connectionsClosed, labels: [("reason", reason)]).increment()
    }

    /// Client connections open now (set at each accept and close).
    func connectionsOpen(_ count: Int) {
        openConnections.set(Double(count))
    }

    func record(method: String, route: String, status: UInt, duration: Duration) {
        let labels = [("method", method), ("route", route), ("status", String(status))]
        registry.makeCounter(descriptor: Self.requests, labels: labels).increment()
        registry.makeDurationHistogram(descriptor: Self.durations, labels: labels, buckets: Self.buckets).record(duration)
    }

    /// The Prometheus text exposition, with process figures read just now.
    func exposition() -> String {
        if let process = ProcessFigures.read() {
            residentMemory.set(Double(process.residentBytes))
            virtualMemory.set(Double(process.virtualBytes))
            cpuSeconds.set(process.cpuSeconds)
            openFileDescriptors.set(Double(process.openFileDescriptors))
        }
        return registry.emitToString()
    }
}

/// Figures about this process from Linux's /proc.
struct ProcessFigures {
    let residentBytes: Int
    let virtualBytes: Int
    let cpuSeconds: Double
    let openFileDescriptors: Int

    static func read() -> ProcessFigures? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ", options: .backwards)
        else { return nil }
        // Fields after the command name, which may itself contain spaces: state is field 3 of stat(5).
        let fields = stat[afterName.upperBound...].split(separator: " ")
        guard fields.count > 21, let userTicks = Double(fields[11]), let systemTicks = Double(fields[12]),
            let virtualBytes = Int(fields[20]), let residentPages = Int(fields[21])
        else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return ProcessFigures(residentBytes: residentPages * pageSize, virtualBytes: virtualBytes,
                              cpuSeconds: (userTicks + systemTicks) / ticksPerSecond,
                              openFileDescriptors: descriptors)
    }
}
