@testable import FluxApp
import Testing
import VaporTesting

@Suite struct RouteTableTests {
    /// From `routes.swift`, any route's handler is one step away: every route Flux serves was declared through
    /// ``GuardedRoutes`` in `Routes/routes.swift` or one of the area files beside it, never by a controller.
    @Test func everyRouteIsDeclaredInTheRouteTable() async throws {
        try await withFlux { app, _ in
            #expect(app.routes.all.count > 50)
            for route in app.routes.all {
                let file = route.userInfo[RouteDeclaration.userInfoKey] as? String ?? "nowhere"
                let name = file.split(separator: "/").last.map(String.init) ?? ""
                #expect(file.hasPrefix("FluxApp/") && (name == "routes.swift" || name.hasPrefix("routes+")),
                        "\(route.method) /\(route.path.map(\.description).joined(separator: "/")) is declared in \(file)")
            }
        }
    }
}
