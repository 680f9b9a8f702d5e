import FluxSecurity
import Foundation
import Testing
import VaporTesting

/// A bare Vapor app (no Flux) with `configure` applied, for testing FluxSecurity on its own.
@discardableResult
func withBareApp<T>(_ configure: (Application) throws -> Void, _ test: (Application) async throws -> T) async throws -> T {
    let app = try await Application.make(.testing)
    do {
        try configure(app)
        let result = try await test(app)
        try await app.asyncShutdown()
        return result
    } catch {
        try? await app.asyncShutdown()
        throw error
    }
}

let testKeys = SecretKeys(secret: "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe")
