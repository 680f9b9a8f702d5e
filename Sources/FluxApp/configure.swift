import Fluent
import Vapor

/// Wires Flux into `app` from `config`. The one entry used by `flux` and by every test, so tests exercise
/// the real middleware, database and routes.
public func configure(_ app: Application, _ config: AppConfig) async throws {
    app.http.server.configuration.hostname = config.host
    app.http.server.configuration.port = config.port
    app.logger.logLevel = config.logLevel
    // Bounded bodies by default: a route that needs more (uploads) streams and sets its own limit.
    app.routes.defaultMaxBodySize = "1mb"

    try DatabaseSetup.use(config.database, on: app)
    app.migrations.add(FluxMigrations.all)

    let metrics = HTTPMetrics()
    let allowedMethods = AllowedMethodsIndex()
    app.middleware = Middlewares()
    app.middleware.use(RequestTelemetryMiddleware(metrics: metrics))
    app.middleware.use(JSONErrorMiddleware(environment: config.environment, methods: allowedMethods))
    app.lifecycle.use(AllowedMethodsIndex.Builder(index: allowedMethods))

    app.asyncCommands.use(FluxServeCommand(serve: await app.servers.asyncCommand), as: "serve", isDefault: true)
    app.asyncCommands.use(DoctorCommand(config: config), as: "doctor")

    try routes(app, config: config, metrics: metrics)
}
