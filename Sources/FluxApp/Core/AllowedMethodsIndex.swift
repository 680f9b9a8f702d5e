import NIOConcurrencyHelpers
import Vapor

/// Which methods each registered path accepts, so an unsupported method gets 405 with `Allow`
/// instead of Vapor's 404. Consulted only for requests no route matched.
final class AllowedMethodsIndex: Sendable {
    private struct Pattern: Sendable {
        let components: [PathComponent]
        var methods: Set<String>
    }

    private let patterns = NIOLockedValueBox<[Pattern]>([])

    /// Indexes `routes`; called when the application boots, after every route is registered.
    func rebuild(from routes: [Route]) {
        var byPath: [String: Pattern] = [:]
        for route in routes {
            let key = route.path.map(\.description).joined(separator: "/")
            byPath[key, default: Pattern(components: route.path, methods: [])].methods.insert(route.method.rawValue)
        }
        patterns.withLockedValue { $0 = Array(byPath.values) }
    }

    /// The methods registered for paths matching `path`, empty when no route has this path at all.
    func methods(for path: String) -> Set<String> {
        let segments = path.split(separator: "/").map(String.init)
        return patterns.withLockedValue { patterns in
            patterns.filter { Self.matches($0.components, segments) }.reduce(into: Set<String>()) { $0.formUnion($1.methods) }
        }
    }

    private static func matches(_ components: [PathComponent], _ segments: [String]) -> Bool {
        for (index, component) in components.enumerated() {
            switch component {
            case .catchall:
                return segments.count > index
            case .constant(let value):
                guard index < segments.count, segments[index] == value else { return false }
            case .parameter, .anything:
                guard index < segments.count else { return false }
            }
        }
        return components.count == segments.count
    }
}

extension AllowedMethodsIndex {
    /// Indexes the routes once every route, including ones registered after `configure`, is in place.
    struct Builder: LifecycleHandler {
        let index: AllowedMethodsIndex

        func didBoot(_ application: Application) throws {
            index.rebuild(from: application.routes.all)
        }
    }
}
