import Fluent
import Vapor

/// `flux serve`: applies pending migrations, logs the staff setup link while no staff account exists, checks
/// the S3 bucket when one is configured (a warning naming the variable at fault: a store that is down must
/// not keep the site down, and Flux recovers by itself when it is back), starts
/// the mail outbox, the conversation and upload housekeeping, the orphan object collection and the stale-worker
/// watch, then hands over
/// to Vapor's serve command, which listens and drains in-flight requests on SIGTERM and SIGINT.
struct FluxServeCommand: AsyncCommand {
    typealias Signature = ServeCommand.Signature

    let help = "Applies pending migrations, then serves HTTP until SIGTERM or SIGINT."
    private let serve: ServeCommand
    private let config: AppConfig

    init(serve: ServeCommand, config: AppConfig) {
        self.serve = serve
        self.config = config
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        try await context.application.autoMigrate()
        try await StaffSetup.announceIfNeeded(on: context.application, publicURL: config.publicURL)
        if config.objectStorage != nil, case .failure(let problem) = await DoctorCommand.storageCheck(config, store: context.application.blobStore) {
            context.application.logger.warning("file storage is not usable: uploads and downloads answer 503 until it is",
                                               metadata: ["problem": .string(problem.text)])
        }
        context.application.outboxWorker.start(on: context.application)
        context.application.conversationHousekeeping.start(on: context.application)
        context.application.uploadHousekeeping.start(on: context.application)
        context.application.orphanObjectCollection.start(on: context.application)
        context.application.workerIncidents.start(on: context.application)
        try await serve.run(using: context, signature: signature)
    }
}
