import Foundation
import FluxSecurity

/// The lines `flux doctor` prints, one per check, and how many failed. Also used by `flux` itself when the
/// configuration is too broken to build an application, so both paths print the same shape.
struct DoctorReport {
    private(set) var lines: [String] = []
    private(set) var failures = 0

    var text: String { (lines + [failures == 0 ? "flux doctor: all checks passed" : "flux doctor: \(failures) check(s) failed"]).joined(separator: "\n") }

    mutating func pass(_ subject: String, _ detail: String) { lines.append("ok    \(subject): \(detail)") }
    mutating func warn(_ subject: String, _ detail: String) { lines.append("warn  \(subject): \(detail)") }
    mutating func fail(_ subject: String, _ detail: String) {
        lines.append("FAIL  \(subject): \(detail)")
        failures += 1
    }

    mutating func configuration(_ config: AppConfig) {
        pass("FLUX_ENV", config.environment.rawValue)
        let secret = AppConfig.secretStrength.evaluate(config.sessionSecret.value)
        pass("SESSION_SECRET", secret.isAcceptable ? "set" : "weak (\(secret.explanation))")
        if let previous = config.previousSessionSecret {
            let verdict = AppConfig.secretStrength.evaluate(previous.value)
            pass("SESSION_SECRET_PREVIOUS", verdict.isAcceptable ? "set (rotation in progress)" : "weak (\(verdict.explanation))")
        }
        switch config.database {
        case .sqlite(let path): pass("DATABASE_URL", "not set: SQLite at \(path)")
        case .postgres: pass("DATABASE_URL", "set (PostgreSQL)")
        }
        if let token = config.metricsToken {
            let verdict = AppConfig.secretStrength.evaluate(token.value)
            pass("METRICS_TOKEN", verdict.isAcceptable ? "set" : "weak (\(verdict.explanation))")
        } else if config.environment == .production {
            fail("METRICS_TOKEN", "missing: in production /metrics answers nobody without it. Generate one with: openssl rand -hex 32")
        } else {
            pass("METRICS_TOKEN", "missing: /metrics answers loopback clients no proxy relayed")
        }
        pass("listen", "\(config.host):\(config.port), public URL \(config.publicURL.absoluteString)")
        // The outage in the product's history: a proxy whose headers the app ignores, or believes from anyone.
        let proxies = config.trustedProxies.networks.count
        if config.publicURL.scheme == "https", proxies == 0 {
            fail("proxy", "PUBLIC_URL is https but TRUSTED_PROXIES is empty: requests through the TLS proxy look like plain HTTP, so HSTS and Secure __Host- cookies stay off. Set TRUSTED_PROXIES to the proxy's address")
        } else if proxies > 0 {
            pass("proxy", "X-Forwarded-For and -Proto believed from \(proxies) network(s) only")
        } else {
            pass("proxy", "none configured: X-Forwarded-* headers are ignored")
        }
        // Browsers offer passkeys only to secure pages: https, or http on localhost while developing.
        let party = config.relyingParty
        if config.environment != .development, config.publicURL.scheme != "https" {
            warn("passkeys", "PUBLIC_URL is not https: browsers will not create or use passkeys for \(config.publicURL.absoluteString)")
        } else {
            pass("passkeys", "relying party \(party.id), origins \(party.origins.joined(separator: ", "))")
        }
        let connections = config.connections.doctorFindings
        for (subject, detail) in connections.passes { pass(subject, detail) }
        for warning in connections.warnings { warn("connections", warning) }
        for warning in config.warnings { warn("configuration", warning) }
    }

    mutating func configuration(_ error: ConfigError) {
        for problem in error.problems { fail(problem.variable, problem.message) }
    }

    mutating func migrations(pending: Result<[String], any Error>) {
        switch pending {
        case .success(let names) where names.isEmpty: pass("migrations", "all applied")
        case .success(let names): fail("migrations", "\(names.count) pending (run: flux migrate): \(names.joined(separator: ", "))")
        case .failure(let error): fail("migrations", "state unreadable: \(error)")
        }
    }

    mutating func dataDirectory(_ directory: URL) {
        do {
            try DataDirectory.prepare(directory)
        } catch {
            fail("DATA_DIR", "\(directory.path) is not writable: \(error.reason)")
            return
        }
        let secretFile = directory.appendingPathComponent("secret").path
        if let attributes = try? FileManager.default.attributesOfItem(atPath: secretFile),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0
        {
            fail("DATA_DIR", "\(secretFile) is readable by other users (mode \(String(mode, radix: 8))); run: chmod 600 \(secretFile)")
            return
        }
        pass("DATA_DIR", "\(directory.path) is writable")
    }

    /// Below this much free space writes start failing soon (uploads, the SQLite WAL, backups): a failure.
    static let minimumFreeBytes: Int64 = 256 * 1024 * 1024
    /// Below this much it is time to act: a warning.
    static let comfortableFreeBytes: Int64 = 2 * 1024 * 1024 * 1024

    /// Stored files whose object is gone: a warning (their downloads answer 404, everything else works), naming
    /// the first few keys so the operator can look for them in a backup.
    mutating func objects(checked: Int, missing: [String]) {
        if missing.isEmpty {
            pass("objects", "\(checked) stored file(s) checked, none missing")
        } else {
            warn("objects", "\(missing.count) of \(checked) stored file(s) have no object (\(missing.prefix(3).joined(separator: ", "))); their downloads answer 404")
        }
    }

    /// Public uploads against their quota and free-space floor: full means visitors' uploads answer 507.
    mutating func uploads(_ status: UploadCapacity.Status) {
        if let problem = status.problem {
            warn("uploads", "public uploads are refused: " + problem)
        } else {
            pass("uploads", "\(status.usedBytes) of \(status.quotaBytes) bytes used by public uploads")
        }
    }

    /// Free space on the data directory's file system, for someone other than root (what Flux can use).
    mutating func disk(_ directory: URL) {
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else {
            fail("disk", "cannot read the free space under \(directory.path)")
            return
        }
        disk(free: Int64(stats.f_bavail) * Int64(stats.f_frsize), total: Int64(stats.f_blocks) * Int64(stats.f_frsize),
             freeFiles: Int64(stats.f_favail), path: directory.path)
    }

    mutating func disk(free: Int64, total: Int64, freeFiles: Int64, path: String) {
        let gib = { (bytes: Int64) in String(format: "%.1f", Double(bytes) / 1_073_741_824) }
        let summary = "\(gib(free)) GiB free of \(gib(total)) GiB under \(path)"
        if free < Self.minimumFreeBytes || freeFiles < 1000 {
            fail("disk", summary + (freeFiles < 1000 ? ", \(freeFiles) inodes left" : "") + ": free space before writes fail")
        } else if free < Self.comfortableFreeBytes {
            warn("disk", summary + ": less than 2 GiB left")
        } else {
            pass("disk", summary)
        }
    }
}
