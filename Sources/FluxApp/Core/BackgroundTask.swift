import NIOConcurrencyHelpers

/// Work a component runs beside the server (the outbox, the housekeeping jobs, the revocation listener):
/// started once, cancelled and awaited at shutdown, so nothing outlives the application.
final class BackgroundTask: Sendable {
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    func start(_ body: @escaping @Sendable () async -> Void) {
        task.withLockedValue { $0 = Task { await body() } }
    }

    /// Runs `pass` every `interval` until stopped, the first time after `delay` (a job whose tables
    /// `flux serve` migrates after boot waits one interval).
    func repeating(every interval: Duration, firstAfter delay: Duration = .zero, _ pass: @escaping @Sendable () async -> Void) {
        start {
            if delay > .zero { try? await Task.sleep(for: delay) }
            while !Task.isCancelled {
                await pass()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func stop() async {
        let running = task.withLockedValue { task in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }
}
