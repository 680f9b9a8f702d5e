@testable import FluxApp
import Foundation
import Testing

@Suite struct DoctorReportTests {
    @Test func theDiskCheckFailsBeforeWritesDoAndWarnsEarlier() {
        let gib: Int64 = 1_073_741_824
        var report = DoctorReport()
        report.disk(free: 100 * 1024 * 1024, total: 20 * gib, freeFiles: 1_000_000, path: "/srv/flux")
        report.disk(free: 10 * gib, total: 20 * gib, freeFiles: 12, path: "/srv/flux")
        report.disk(free: gib, total: 20 * gib, freeFiles: 1_000_000, path: "/srv/flux")
        report.disk(free: 8 * gib, total: 20 * gib, freeFiles: 1_000_000, path: "/srv/flux")
        #expect(report.lines == [
            "FAIL  disk: 0.1 GiB free of 20.0 GiB under /srv/flux: free space before writes fail",
            "FAIL  disk: 10.0 GiB free of 20.0 GiB under /srv/flux, 12 inodes left: free space before writes fail",
            "warn  disk: 1.0 GiB free of 20.0 GiB under /srv/flux: less than 2 GiB left",
            "ok    disk: 8.0 GiB free of 20.0 GiB under /srv/flux",
        ])
        #expect(report.failures == 2)
    }

    /// Production answers /metrics only with METRICS_TOKEN, so a production configuration without one has no
    /// metrics at all: doctor says so before the first deploy, not the first blank dashboard.
    @Test func aProductionConfigurationWithoutAMetricsTokenFails() throws {
        let directory = try TemporaryDirectory()
        let production = ["DATA_DIR": directory.url.path, "FLUX_ENV": "production",
                          "SESSION_SECRET": "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"]
        var without = DoctorReport()
        without.configuration(try AppConfig.load(from: production))
        #expect(without.lines.contains { $0.hasPrefix("FAIL  METRICS_TOKEN: missing") })
        #expect(without.failures == 1)

        var with = DoctorReport()
        with.configuration(try AppConfig.load(from: production.merging(["METRICS_TOKEN": "mT9vQ2xK7wR4nY8pL3sD6fJ1hG5cB0zAeU"]) { _, new in new }))
        #expect(with.lines.contains("ok    METRICS_TOKEN: set"))
        #expect(with.failures == 0)

        var development = DoctorReport()
        development.configuration(try AppConfig.load(from: ["DATA_DIR": directory.url.path]))
        #expect(development.lines.contains { $0.hasPrefix("ok    METRICS_TOKEN: missing") })
    }

    /// Passkeys need a secure page: doctor warns when production's public address is plain HTTP.
    @Test func passkeysWarnWithoutHTTPSOutsideDevelopment() throws {
        let directory = try TemporaryDirectory()
        let production = ["DATA_DIR": directory.url.path, "FLUX_ENV": "production", "METRICS_TOKEN": "mT9vQ2xK7wR4nY8pL3sD6fJ1hG5cB0zAeU",
                          "SESSION_SECRET": "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"]
        var plain = DoctorReport()
        plain.configuration(try AppConfig.load(from: production.merging(["PUBLIC_URL": "http://flux.example.com"]) { _, new in new }))
        #expect(plain.lines.contains { $0.hasPrefix("warn  passkeys: PUBLIC_URL is not https") })
        var secure = DoctorReport()
        secure.configuration(try AppConfig.load(from: production.merging(["PUBLIC_URL": "https://flux.example.com",
                                                                           "TRUSTED_PROXIES": "127.0.0.1"]) { _, new in new }))
        #expect(secure.lines.contains("ok    passkeys: relying party flux.example.com, origins https://flux.example.com"))
        var development = DoctorReport()
        development.configuration(try AppConfig.load(from: ["DATA_DIR": directory.url.path]))
        #expect(development.lines.contains { $0.hasPrefix("ok    passkeys: relying party localhost") })
    }
}
