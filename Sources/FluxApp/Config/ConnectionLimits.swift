import Foundation
import NIOCore

/// What one client connection may take from the server (HTTP_HEADER_TIMEOUT, HTTP_IDLE_TIMEOUT,
/// HTTP_BODY_MIN_RATE, HTTP_MAX_CONNECTIONS_PER_ADDRESS, HTTP_MAX_CONNECTIONS). On without configuration:
/// Flux runs on public addresses with no proxy in front, where a client that opens connections and never
/// finishes a request would otherwise hold a descriptor each until the process has none left.
public struct ConnectionLimits: Sendable, Equatable {
    /// The request line and headers must be complete this long after their first byte (then 408 and close).
    public var headerTimeout: TimeAmount = .seconds(30)
    /// A connection with no request in progress is closed after this long.
    public var idleTimeout: TimeAmount = .seconds(75)
    /// The slowest request body accepted, in bytes per second averaged over `bodyRateWindow`; 0 turns it off.
    public var bodyMinimumRate: Int = 240
    /// How long a body may start slowly before its rate is judged (TCP slow start, a phone waking its radio).
    public var bodyRateGrace: TimeAmount = .seconds(5)
    /// The number of one-second samples the body rate is averaged over.
    public var bodyRateWindow: Int = 10
    /// Open connections one client address may hold; a trusted proxy's address is exempt.
    public var perAddress: Int = 1_024
    /// Open connections in all, kept below the descriptor limit so the database, files and logs still open.
    public var total: Int
    /// The process's descriptor limit (RLIMIT_NOFILE) when the configuration was read.
    public var descriptorLimit: Int

    public init(descriptorLimit: Int = ConnectionLimits.currentDescriptorLimit()) {
        self.descriptorLimit = descriptorLimit
        self.total = max(1, descriptorLimit - Self.reserve(for: descriptorLimit))
    }

    /// Connections the local host (127.0.0.1, ::1) and trusted proxies may open past `total`, out of the
    /// reserve: a health check must get through while a flood holds every other place.
    public var localHeadroom: Int { max(16, Self.reserve(for: descriptorLimit) / 4) }

    /// Descriptors left for everything that is not a client connection: the database and its journal, stored
    /// files being read or written, logs, the event loops' own descriptors, outbound HTTP and SMTP.
    public static func reserve(for descriptorLimit: Int) -> Int {
        max(64, descriptorLimit / 8)
    }

    public static func currentDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        // An unlimited soft limit reads as the largest value; 2^20 is the kernel's usual ceiling (fs.nr_open).
        return Int(min(limit.rlim_cur, 1 << 20))
    }

    /// Raises the soft descriptor limit to the hard one (as Go's runtime does at start): the soft default
    /// of 1,024 on most systems would cap a public server at a few hundred clients for no reason.
    public static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let target = min(limit.rlim_max, 1 << 20)
        guard limit.rlim_cur < target else { return }
        limit.rlim_cur = target
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Reads the five variables through `value`, reporting bad ones through `problem`.
    static func load(value: (String) -> String?, problem: (String, String) -> Void) -> ConnectionLimits {
        var limits = ConnectionLimits()
        func whole(_ name: String, _ range: ClosedRange<Int>, why: String = "") -> Int? {
            guard let raw = value(name) else { return nil }
            guard let parsed = Int(raw), range.contains(parsed) else {
                problem(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)\(why)")
                return nil
            }
            return parsed
        }
        if let seconds = whole("HTTP_HEADER_TIMEOUT", 1...3_600) { limits.headerTimeout = .seconds(Int64(seconds)) }
        if let seconds = whole("HTTP_IDLE_TIMEOUT", 1...86_400) { limits.idleTimeout = .seconds(Int64(seconds)) }
        if let rate = whole("HTTP_BODY_MIN_RATE", 0...1 << 30) { limits.bodyMinimumRate = rate }
        if let count = whole("HTTP_MAX_CONNECTIONS_PER_ADDRESS", 1...1 << 20) { limits.perAddress = count }
        // Never up to the limit itself: with no descriptor left, libdispatch's thread monitor (under Swift
        // concurrency) cannot open /proc and ends the process, and the database and files stop opening.
        let reserve = Self.reserve(for: limits.descriptorLimit)
        if let count = whole("HTTP_MAX_CONNECTIONS", 1...limits.total,
                             why: " (the descriptor limit \(limits.descriptorLimit) less \(reserve) kept for the database, files and logs; raise LimitNOFILE or ulimit -n for more)") {
            limits.total = count
        }
        return limits
    }

    /// What `flux doctor` says about these limits: lines that pass, and warnings.
    var doctorFindings: (passes: [(String, String)], warnings: [String]) {
        var passes: [(String, String)] = []
        var warnings: [String] = []
        let rate = bodyMinimumRate == 0
            ? "off"
            : "\(bodyMinimumRate) bytes/s over \(bodyRateWindow) s after \(bodyRateGrace.nanoseconds / 1_000_000_000) s"
        passes.append(("connections", "headers within \(headerTimeout.nanoseconds / 1_000_000_000) s, idle close after \(idleTimeout.nanoseconds / 1_000_000_000) s, request body at least \(rate)"))
        passes.append(("connection caps", "\(perAddress) per client address, \(total) in all (descriptor limit \(descriptorLimit))"))
        if bodyMinimumRate == 0 {
            warnings.append("HTTP_BODY_MIN_RATE is 0: a client can hold a connection open by sending its request body a byte at a time.")
        }
        if descriptorLimit < 4_096 {
            warnings.append("the descriptor limit is \(descriptorLimit); raise LimitNOFILE (systemd) or ulimit -n so Flux can hold more than \(total) connections.")
        }
        return (passes, warnings)
    }
}
