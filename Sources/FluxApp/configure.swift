import Fluent
import FluxSecurity
import Vapor

/// Wires Flux into `app` from `config`. The one entry used by `flux` and by every test, so tests exercise
/// the real middleware, database and routes.
public func configure(_ app: Application, _ config: AppConfig) async throws {
    configureServer(app, config)
    let metrics = HTTPMetrics()
    app.servers.use { app in
        GuardedHTTPServer(inner: app.http.server.shared, limits: config.connections, trustedProxies: config.trustedProxies,
                          events: ConnectionEvents(metrics: metrics, logger: app.logger))
    }
    try DatabaseSetup.use(config.database, on: app)
    app.migrations.add(FluxMigrations.all)
    let security = Hardening(config: config, app: app)
    configureMiddleware(app, config, metrics: metrics, security: security)
    app.blobStore = app.makeBlobStore(config, metrics: metrics)
    startBackgroundWork(app, config, metrics: metrics)

    let identity = await Identity(config: config, app: app, security: security)
    app.identity = identity
    app.lifecycle.use(IdentityLifecycle(identity: identity, database: config.database))
    app.realtime = RealtimeService(config: config, app: app, revocations: identity.revocations, metrics: metrics)
    app.lifecycle.use(app.realtime)
    app.lifecycle.use(UnreadMail(links: identity.links))
    app.workerControl = WorkerControl(config: config)
    app.lifecycle.use(app.workerControl)
    app.workerIncidents = WorkerIncidents(control: app.workerControl, links: identity.links)
    app.lifecycle.use(app.workerIncidents)
    await registerCommands(app, config, identity: identity)

    // Every page's template is compiled in; Leaf reads nothing from the working directory.
    PageTemplates.use(on: app)
    try routes(app, config: config, metrics: metrics, security: security, identity: identity)
}

/// Where Flux listens, how it logs, and the bounds and encodings every request shares.
private func configureServer(_ app: Application, _ config: AppConfig) {
    app.http.server.configuration.hostname = config.host
    app.http.server.configuration.port = config.port
    // Room in the accept queue for a burst of connections (the kernel caps it at net.core.somaxconn), so a
    // flood that the connection guard will close does not make a health check's connection wait for a retry.
    app.http.server.configuration.backlog = 4_096
    app.logger.logLevel = config.logLevel
    // Bounded bodies by default: a route that needs more (uploads) streams and sets its own limit.
    app.routes.defaultMaxBodySize = "1mb"
    // Keys in a fixed order: without it, Foundation on Linux writes the same value in varying orders, and
    // answers that must not differ (an unknown email and a wrong password) would differ byte for byte.
    ContentConfiguration.global.use(encoder: JSONEncoder.custom(dates: .iso8601, format: .sortedKeys), for: .json)
    // Uploads stream through `StreamedUpload`; no route decodes multipart into a value, and Vapor's decoder for
    // it (MultipartKit 4.7.1) traps on a header name byte over 0x7F, which would let any request end the process.
    ContentConfiguration.global.use(decoder: MultipartRefused(), for: .formData)
}

/// Outermost first: every response, errors included, gets a request id, the security headers and, for an
/// allowed origin, the CORS headers (outside the error middleware, or a refusal would reach the site's
/// script unreadable); CORS also answers preflights. CSRF sits on the root route group instead (see
/// `routes`), so a request for a path or method Flux does not serve still gets its 404 or 405.
private func configureMiddleware(_ app: Application, _ config: AppConfig, metrics: HTTPMetrics, security: Hardening) {
    let allowedMethods = AllowedMethodsIndex()
    app.middleware = Middlewares()
    let secretPaths = SecretPaths()
    app.middleware.use(RequestTelemetryMiddleware(metrics: metrics, secretPaths: secretPaths))
    app.lifecycle.use(SecretPaths.Builder(index: secretPaths))
    app.middleware.use(security.headers)
    if let cors = config.cors { app.middleware.use(cors.middleware) }
    app.middleware.use(JSONErrorMiddleware(environment: config.environment, methods: allowedMethods))
    app.lifecycle.use(AllowedMethodsIndex.Builder(index: allowedMethods))
}

/// The outbox, FluxAI's recorder and the housekeeping jobs, started and stopped with the application.
private func startBackgroundWork(_ app: Application, _ config: AppConfig, metrics: HTTPMetrics) {
    let mailClient: any MailClient = if let smtp = config.smtp {
        SMTPMailClient(settings: smtp, group: app.eventLoopGroup, heloName: config.publicURL.host ?? "localhost")
    } else {
        FileMailClient(directory: config.dataDirectory.appendingPathComponent("mail"), logger: app.logger)
    }
    app.outboxWorker = OutboxWorker(client: mailClient, from: config.mailFrom, retentionDays: config.outboxRetentionDays)
    app.lifecycle.use(app.outboxWorker)
    app.conversationRecorder = ConversationRecorder(metrics: metrics)
    app.lifecycle.use(app.conversationRecorder)
    app.conversationHousekeeping = ConversationHousekeeping(idleAbandonMinutes: config.idleAbandonMinutes,
                                                            retentionDays: config.retentionDays)
    app.lifecycle.use(app.conversationHousekeeping)
    app.uploadHousekeeping = UploadHousekeeping(store: app.blobStore)
    app.lifecycle.use(app.uploadHousekeeping)
    app.orphanObjectCollection = OrphanObjectCollection(store: app.blobStore)
    app.lifecycle.use(app.orphanObjectCollection)
}

/// `flux serve` (the default), `doctor`, `filetype`, `backup`, `files`, `create-admin` and `seed-demo`.
private func registerCommands(_ app: Application, _ config: AppConfig, identity: Identity) async {
    app.asyncCommands.use(FluxServeCommand(serve: await app.servers.asyncCommand, config: config),
                          as: "serve", isDefault: true)
    app.asyncCommands.use(DoctorCommand(config: config), as: "doctor")
    app.asyncCommands.use(FileTypeCommand(), as: "filetype")
    app.asyncCommands.use(BackupCommand(config: config), as: "backup")
    app.asyncCommands.use(FilesCommand(config: config), as: "files")
    app.asyncCommands.use(CreateAdminCommand(passwords: identity.passwords), as: "create-admin")
    app.asyncCommands.use(SeedDemoCommand(environment: config.environment), as: "seed-demo")
}
