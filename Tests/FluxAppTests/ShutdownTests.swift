@testable import FluxApp
import AsyncHTTPClient
import Foundation
import NIOPosix
import Testing
import VaporTesting

@Suite struct ShutdownTests {
    @Test func shutdownFinishesTheRequestInFlight() async throws {
        // The route says when it has the request, so the shutdown below comes while it is in flight however
        // slowly a loaded machine connects (a fixed wait raced the client's connect and was refused).
        let (entered, handlerEntered) = AsyncStream.makeStream(of: Void.self)
        try await withFlux(routes: { routes in
            routes.get("test", "slow") { _ async throws -> String in
                handlerEntered.yield()
                try await Task.sleep(for: .milliseconds(700))
                return "finished"
            }
        }) { app, _ in
            app.http.server.configuration.port = 0
            try app.server.start()
            let port = try #require(app.http.server.shared.localAddress?.port)
            let inFlight = Task {
                let response = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/test/slow").get()
                return (response, ContinuousClock.now)
            }
            for await _ in entered { break }
            // Timed from the moment the handler has the request: how long connecting took on a loaded machine
            // says nothing about the shutdown.
            let shutdownStarted = ContinuousClock.now
            // What SIGTERM triggers in `flux serve`.
            await app.server.shutdown()
            let (response, answered) = try await inFlight.value
            let elapsed = answered - shutdownStarted
            #expect(response.status == .ok)
            #expect(elapsed < .seconds(5))
            #expect(response.body.map { String(buffer: $0) } == "finished")

            // And nothing new is accepted: the listening socket is closed.
            await #expect(throws: (any Error).self) {
                try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            }
        }
    }
}
