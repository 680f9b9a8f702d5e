import FluentPostgresDriver
import Foundation
import Vapor

/// Keeps one PostgreSQL connection LISTENing on a channel, reconnecting a second after any failure, so that
/// replicas can announce things to each other (session revocations, real-time events) within milliseconds.
///
/// `listening(true)` is called once the LISTEN is in place, `listening(false)` whenever it is lost: the
/// owner may have missed notices in between and must not trust what it cached. A failure is logged once
/// until the connection is back.
final class PostgresListener: Sendable {
    private let channel: String
    private let configuration: PostgresConnection.Configuration
    private let listening: @Sendable (Bool) async -> Void
    private let notice: @Sendable (String) async -> Void
    private let loop = BackgroundTask()

    init(channel: String, configuration: PostgresConnection.Configuration,
         listening: @escaping @Sendable (Bool) async -> Void, notice: @escaping @Sendable (String) async -> Void) {
        self.channel = channel
        self.configuration = configuration
        self.listening = listening
        self.notice = notice
    }

    /// The listener's connection settings for `database`, or `nil` on SQLite (one process needs no notices).
    static func configuration(for database: AppConfig.DatabaseLocation) -> PostgresConnection.Configuration? {
        guard case .postgres(let url) = database, var configuration = try? SQLPostgresConfiguration(url: url.value).coreConfiguration
        else { return nil }
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }

    /// Returns at once; the connection is made in the background.
    func start(logger: Logger) {
        loop.start { [channel, configuration, listening, notice] in
            var connectionID = 1
            var reported = false
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: logger)
                    connectionID += 1
                    defer { Task { try? await connection.close() } }
                    try await connection.listen(on: channel) { notifications in
                        await listening(true)
                        reported = false
                        for try await notification in notifications {
                            await notice(notification.payload)
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    if !reported {
                        logger.warning("PostgreSQL listener is not connected", metadata: [
                            "channel": .string(channel), "error": .string(String(describing: error)),
                        ])
                        reported = true
                    }
                }
                await listening(false)
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    func stop() async {
        await loop.stop()
    }
}
