import FluxSecurity
import Foundation
import NIOCore
import NIOEmbedded
import Vapor

/// Times each stack in STACKS (`;`-separated part lists, `none` for the bare app) in this process: requests
/// built in memory and answered by the app's responder on an `EmbeddedEventLoop`, with a synchronous route, so
/// no network, kernel or thread hop is timed. Prints the best of ROUNDS rounds of REQUESTS requests each, in
/// thread CPU time, and what each stack adds as a share of the bare request's own cost (`none`, same run). The
/// guard (bench/RESULTS.md): the whole stack adds no more than 75 % of that cost in a release build.
func timeInProcess() async throws {
    let stacks = (environment["STACKS"] ?? "none;headers;cors;ratelimit;csrf;headers,cors,ratelimit,csrf").split(separator: ";").map(String.init)
    let requests = Int(environment["REQUESTS"] ?? "") ?? 30_000
    let rounds = Int(environment["ROUNDS"] ?? "") ?? 12
    var apps: [(stack: String, app: Application, responder: any Responder)] = []
    for stack in stacks {
        let app = try await makeApp(parts: parts(stack), asyncRoute: false)
        // Built once, as the server builds it; `app.responder` would build the router on every call.
        apps.append((stack, app, app.responder.current))
    }
    let best = try time(apps, requests: requests, rounds: rounds)
    let bare = best["none"]
    for (stack, _, _) in apps {
        let extra = bare.map { String(format: " (%+.2f, %.0f %% of none)", best[stack]! - $0, (best[stack]! - $0) / $0 * 100) } ?? ""
        print(String(format: "%@: %.2f µs per request", stack, best[stack]!) + extra)
    }
    for (_, app, _) in apps { try await app.asyncShutdown() }
}

/// The best time per request of each app, in µs of this thread's CPU time. Synchronous, on an event loop made
/// on this thread: every future is complete when it is returned, the loop being embedded and the route
/// synchronous.
private func time(_ apps: [(stack: String, app: Application, responder: any Responder)], requests: Int,
                  rounds: Int) throws -> [String: Double] {
    let loop = EmbeddedEventLoop()
    let token = try csrfToken(from: apps[0].app, on: loop)
    let headers: HTTPHeaders = [
        "Host": "127.0.0.1", "Content-Length": "0", "Origin": "https://www.example.com",
        "X-CSRF-Token": token, "Cookie": "csrf=\(token)",
    ]
    let peer = try SocketAddress(ipAddress: "127.0.0.1", port: 40000)
    var best = [String: Double]()
    for _ in 0..<rounds {
        for (stack, app, responder) in apps {
            let start = threadCPUTime()
            for _ in 0..<requests {
                let request = Request(application: app, method: .POST, url: "/submit", headers: headers, remoteAddress: peer, on: loop)
                let response = try responder.respond(to: request).wait()
                precondition(response.status == .ok, "\(stack) answered \(response.status)")
            }
            best[stack] = min(best[stack] ?? .infinity, (threadCPUTime() - start) / Double(requests) * 1e6)
        }
    }
    return best
}

/// A CSRF token the app's own `GET /csrf` hands out (every app has the route; the token verifies in all).
private func csrfToken(from app: Application, on loop: EmbeddedEventLoop) throws -> String {
    let response = try app.responder.current.respond(to: Request(application: app, method: .GET, url: "/csrf", on: loop)).wait()
    let body = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body.buffer ?? ByteBuffer()))
    guard let token = body["token"] else { throw Abort(.internalServerError, reason: "no CSRF token in \(body)") }
    return token
}

private func threadCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
