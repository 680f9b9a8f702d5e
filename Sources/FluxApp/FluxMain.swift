import Foundation
import Logging
import Vapor

/// The `flux` executable: read the configuration, start logging, build the application and run the command
/// (`serve` by default, `migrate`, `doctor`, `routes`). Exit status is non-zero on any failure.
public enum FluxMain {
    public static func run(arguments: [String] = CommandLine.arguments,
                           environment: [String: String] = ProcessInfo.processInfo.environment) async -> Int32 {
        let command = arguments.dropFirst().first
        // Before the configuration is read: the connection cap is derived from the limit it sets.
        ConnectionLimits.raiseDescriptorLimit()
        let config: AppConfig
        do {
            config = try AppConfig.load(from: environment)
        } catch {
            if command == "doctor" {
                var report = DoctorReport()
                report.configuration(error)
                print(report.text)
            } else {
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
            }
            return 1
        }

        if command == "restore" {
            guard arguments.count == 3 else {
                FileHandle.standardError.write(Data("usage: flux restore BACKUP_DIRECTORY\n".utf8))
                return 1
            }
            do {
                try await Restore.run(from: URL(fileURLWithPath: arguments[2]), config: config)
                print("restored \(arguments[2])")
                return 0
            } catch {
                FileHandle.standardError.write(Data("flux restore: \(error)\n".utf8))
                return 1
            }
        }

        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: config.logLevel) }
        let logger = Logger(label: "flux")
        for warning in config.warnings { logger.warning("\(warning)") }

        let app: Application
        do {
            app = try await Application.make(Vapor.Environment(name: config.environment.rawValue, arguments: arguments))
        } catch {
            logger.critical("cannot create the application", metadata: ["error": .string(String(describing: error))])
            return 1
        }
        var status: Int32 = 0
        do {
            try await configure(app, config)
            try await app.execute()
        } catch let error as any ReportedFailure {
            logger.notice("\(error.description)")
            status = 1
        } catch {
            logger.critical("flux stopped on an error", metadata: ["error": .string(String(describing: error))])
            status = 1
        }
        // Drain the HTTP server before anything else stops: Vapor's own shutdown closes the databases first,
        // and a request still in flight (or arriving on a kept-alive connection) would then find none.
        await app.server.shutdown()
        do {
            try await app.asyncShutdown()
        } catch {
            logger.error("shutdown failed", metadata: ["error": .string(String(describing: error))])
            status = 1
        }
        return status
    }
}

/// A command failure the command has already reported on its output: the process exits non-zero with
/// a one-line notice instead of a crash report.
protocol ReportedFailure: Error, CustomStringConvertible {}
