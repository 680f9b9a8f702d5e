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
    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private let cpuSeconds: Gauge
    private let openFileDescriptors: Gauge
    private let startTime: Gauge

    init() {
        residentMemory = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        virtualMemory = registry.makeGauge(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
        cpuSeconds = registry.makeGauge(name: "process_cpu_seconds_total", help: "User and system CPU time in seconds.")
        openFileDescriptors = registry.makeGauge(name: "process_open_fds", help: "Open file descriptors.")
        startTime = registry.makeGauge(name: "process_start_time_seconds", help: "Start time since the Unix epoch in seconds.")
        startTime.set(Date().timeIntervalSince1970)
    }

    func record(method: String, route: String, status: UInt, duration: Duration) {
        let labels = [("method", method), ("route", route), ("status", String(status))]
        registry.makeCounter(name: "http_requests_total", labels: labels, help: "HTTP requests served.").increment()
        registry.makeDurationHistogram(name: "http_request_duration_seconds", labels: labels, buckets: Self.buckets,
                                       help: "Time to produce the response.").record(duration)
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
