@testable import FluxApp
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
}
